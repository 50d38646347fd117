"""What the hub decides itself when a site writes its own Site's status.

Validation says a status is well-formed; this says what a site may claim in it:

* ``lastHeartbeat`` is the hub's receive time, whatever the agent sent: liveness must
  not rest on the site's clock (a heartbeat dated 2099 kept a dead site Online). The
  write renews the site's lease too (``hub.leases``), as a heartbeat does.
* labels under the reserved ``edgeplane.io/`` prefix are the hub's and the admins'; a
  site may not give them to the devices it reports (422 naming the label).
* a site that reports nodes (``inventory.nodes`` > 0) none of which is Ready
  (``readyNodes`` 0) is Offline, whatever phase its agent writes: the agent is fine but
  nothing runs there (a node pool cut off from its central cluster), so its Replicas
  applications move. The condition ``NodesReady`` (reason ``NodesNotReady``) says why;
  the first write with a node Ready (a fresh heartbeat) makes it Online again.
* a site the health controller declared unreachable (condition ``Reachable`` False,
  reason ``NoHeartbeat``) that writes itself Online again has come back: ``Reachable``
  turns True (reason ``HeartbeatResumed``, saying how long it was away) and the time is
  appended to ``status.returns`` (newest last, at most ``RETURNS_MAX``: failback's
  hold-down grows with how often a site flaps).

Admins' writes pass unchanged: they are trusted with all of it (the health controller
applies the nodes rule to whatever is stored, ``nodes_checked``). Neighbours:
``resources`` (the status routes call ``site_written``), ``controllers.health`` (reads
the time).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from edgeplane.api.sites import RETURNS_MAX, SitePhase
from edgeplane.api.wellknown import RESERVED_DOMAIN, reserved_label
from edgeplane.api.wire import Object
from edgeplane.health import liveness
from edgeplane.hub.errors import ApiError


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_written(request: Request, obj: Object) -> Object:
    """``obj`` (a validated status write) as the hub keeps it when a site wrote it."""
    principal = getattr(request.state, "principal", None)
    if obj.get("kind") != "Site" or principal is None or principal.role != "site":
        return obj
    status: dict[str, Any] = obj.get("status") or {}
    _refuse_reserved_labels(status)
    now = time.time()
    obj["status"] = came_back(nodes_checked({**status, "lastHeartbeat": rfc3339(now)}, now), now)
    if (leases := getattr(request.app.state, "leases", None)) is not None:
        leases.renew(principal.subject, now)  # a status write is a heartbeat too
    return obj


NODES_READY = "NodesReady"
NODES_NOT_READY = "NodesNotReady"


def cut_off(status: dict[str, Any]) -> bool:
    """Whether the site has nodes and none of them is Ready (``health.liveness``'s rule
    over the inventory this status reports)."""
    inventory = status.get("inventory") or {}
    return liveness.cut_off(inventory.get("nodes"), inventory.get("readyNodes"))


def nodes_checked(status: dict[str, Any], now: float) -> dict[str, Any]:
    """``status`` with the nodes rule applied: Offline while no node is Ready, Online
    again (from an Offline the rule made) once one is; the ``NodesReady`` condition
    while the site reports ready nodes."""
    ready = (status.get("inventory") or {}).get("readyNodes")
    kept = [c for c in status.get("conditions") or [] if c.get("type") != NODES_READY]
    if not isinstance(ready, int):
        return {**status, "conditions": kept} if kept or status.get("conditions") else status
    conditions = status.get("conditions") or []
    before: dict[str, Any] = next((c for c in conditions if c.get("type") == NODES_READY), {})
    condition = _nodes_condition(status, before, now)
    phase = status.get("phase")
    if cut_off(status):
        phase = SitePhase.OFFLINE
    elif phase == SitePhase.OFFLINE and before.get("reason") == NODES_NOT_READY:
        phase = SitePhase.ONLINE  # this write is the fresh heartbeat
    return {**status, "phase": phase, "conditions": [*kept, condition]}


def _nodes_condition(status: dict[str, Any], before: dict[str, Any], now: float) -> dict[str, Any]:
    inventory = status["inventory"]
    nodes, ready = inventory.get("nodes") or 0, inventory["readyNodes"]
    if cut_off(status):
        truth, reason = "False", NODES_NOT_READY
        message = (
            f"none of the site's {nodes} node(s) is Ready: the site is Offline (it takes "
            "nothing new, and its Replicas applications move to other sites) until one is"
        )
    else:
        truth, reason = "True", NODES_READY
        message = f"{ready} of {nodes} node(s) Ready"
    changed = before.get("status") != truth
    since = rfc3339(now) if changed else before.get("lastTransitionTime") or rfc3339(now)
    return {
        "type": NODES_READY,
        "status": truth,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }


REACHABLE = "Reachable"
NO_HEARTBEAT = "NoHeartbeat"
HEARTBEAT_RESUMED = "HeartbeatResumed"


def condition(kind: str, truth: bool, reason: str, message: str, now: float) -> dict[str, Any]:
    """A condition that changed at ``now``."""
    return {
        "type": kind,
        "status": "True" if truth else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": rfc3339(now),
    }


def with_condition(status: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``status`` with ``new`` in place of any condition of its type (a copy)."""
    kept = [c for c in status.get("conditions") or [] if c.get("type") != new["type"]]
    return {**status, "conditions": [*kept, new]}


def came_back(status: dict[str, Any], now: float) -> dict[str, Any]:
    """``status`` (a site's own write, after the nodes rule) with its return recorded
    when it is Online again after the hub declared it unreachable; else unchanged."""
    conditions = status.get("conditions") or []
    before = next((c for c in conditions if c.get("type") == REACHABLE), None)
    if before is None or before.get("status") != "False" or status.get("phase") != SitePhase.ONLINE:
        return status
    since = liveness.parse_stamp(before.get("lastTransitionTime"))
    away = "" if since is None else f" after {max(0.0, now - since):.0f} s offline"
    resumed = condition(REACHABLE, True, HEARTBEAT_RESUMED, f"heard again{away}", now)
    returns = [*(status.get("returns") or []), rfc3339(now)][-RETURNS_MAX:]
    return {**with_condition(status, resumed), "returns": returns}


def _refuse_reserved_labels(status: dict[str, Any]) -> None:
    for i, device in enumerate(status.get("devices") or []):
        for key in (device.get("labels") or {}) if isinstance(device, dict) else ():
            if reserved_label(key):
                field = f"status.devices[{i}].labels[{key}]"
                raise ApiError(
                    422,
                    "Invalid",
                    f"{field}: labels under {RESERVED_DOMAIN}/ are the hub's; a site may not "
                    "report them: leave the label out",
                    field,
                )
