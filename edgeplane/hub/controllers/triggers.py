"""What wakes the placement controller: the informer's changes sorted by meaning.

* a change placement reads (an Application's metadata or spec; a Site's labels, spec,
  or the status fields placement reads: phase, capacity, allocatable, inventory,
  devices; any SiteGroup or Policy; a Device's labels, spec or phase (not its
  ``lastSeen``); an Assignment created, changed or deleted
  by someone else) wakes a placement pass;
* an Assignment whose status alone changed updates its application's status (the
  ready count), with no planner run; unless its application's rollout still moves
  (``moving``): a site Ready or failing at the new revision is news to the rollout,
  and wakes a pass;
* an operator's word to a rollout (``status.rollout.control``, the action route's
  write) wakes a pass, as does the autoscaler's new count
  (``status.autoscaling.desiredReplicas``);
* everything else wakes nothing: a heartbeat (``lastHeartbeat``), condition
  timestamps, an Application's status (the controller's own), the controller's own
  writes coming back as events.

``Wake`` gathers one batch of changes; ``describe`` says in one line what changed, for
the story ``explain`` tells.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from edgeplane.api.wire import Object
from edgeplane.hub.informer import RELIST, Change, resource_version

SITE_STATUS_READ = ("phase", "capacity", "allocatable", "inventory", "devices")
"""The Site status fields placement reads (``placement.views.site_view``)."""
MAX_TRIGGERS = 5
"""Triggers kept per wake (what ``explain`` tells of one pass)."""


@dataclass
class Wake:
    """One batch of changes: whether a pass is due, and why; applications whose
    Assignments' status alone changed."""

    full: bool = False
    triggers: list[str] = field(default_factory=list)
    more: int = 0
    """Further triggers not kept."""
    apps: dict[str, str] = field(default_factory=dict)
    """Applications that changed themselves, and how (their story names it)."""
    statuses: set[str] = field(default_factory=set)

    def due(self, why: str, app: str | None = None) -> None:
        self.full = True
        if app is not None:
            self.apps[app] = why
        if len(self.triggers) < MAX_TRIGGERS:
            self.triggers.append(why)
        else:
            self.more += 1

    def trigger(self) -> str:
        """The triggers as one line."""
        told = "; ".join(self.triggers) or "nothing"
        return f"{told}; and {self.more} more" if self.more else told

    def __bool__(self) -> bool:
        return self.full or bool(self.statuses)


def sort_changes(
    changes: Iterable[Change], own: Collection[int], moving: Collection[str] = ()
) -> Wake:
    """The wake a batch of changes makes; ``own``: resourceVersions the controller
    wrote itself (their events wake nothing); ``moving``: applications whose rollout
    is under way."""
    wake = Wake()
    for change in changes:
        if change.type == RELIST:  # a subscriber that fell behind: anything may have changed
            wake.due("the informer listed everything again")
        elif resource_version(change.new or change.old) in own:
            continue
        elif change.kind == "Assignment" and _status_only(change):
            owner = str((change.new or {}).get("spec", {}).get("application"))
            if owner in moving:
                wake.due(f"Assignment {change.name} status (a rollout of {owner} moves)")
            else:
                wake.statuses.add(owner)
        elif meaningful(change):
            app = change.name if change.kind == "Application" else None
            wake.due(describe(change), app)
    return wake


def meaningful(change: Change) -> bool:
    """Whether placement reads what changed."""
    if change.old is None or change.new is None or change.kind == "SiteGroup":
        return True
    if change.kind == "Policy":
        return True
    return bool(_what_changed(change.kind, change.old, change.new))


def describe(change: Change) -> str:
    """``Site s1 MODIFIED (labels)``: which object, and what of it changed."""
    what = ""
    if change.type == "MODIFIED" and change.old is not None and change.new is not None:
        fields = _what_changed(change.kind, change.old, change.new)
        what = f" ({', '.join(fields)})" if fields else ""
    return f"{change.kind} {change.name} {change.type}{what}"


def _status_only(change: Change) -> bool:
    old, new = change.old, change.new
    if old is None or new is None:
        return False
    return not _what_changed("Assignment", old, new) and old.get("status") != new.get("status")


def _what_changed(kind: str, old: Object, new: Object) -> list[str]:
    """The parts placement reads that differ, by name (``labels``, ``spec``,
    ``status.phase``...)."""
    keys = ("labels", "annotations") if kind == "Application" else ("labels",)
    found = [k for k in keys if (_meta(old).get(k) or None) != (_meta(new).get(k) or None)]
    if _read_spec(kind, old) != _read_spec(kind, new):
        found.append("spec")
    if kind == "Site":
        before, after = old.get("status") or {}, new.get("status") or {}
        found += [f"status.{k}" for k in SITE_STATUS_READ if before.get(k) != after.get(k)]
    if kind == "Device" and _phase(old) != _phase(new):
        found.append("status.phase")  # not lastSeen: discovery refreshes it every minute
    if kind == "Application" and _control(old) != _control(new):
        found.append("status.rollout.control")
    if kind == "Application" and _desired(old) != _desired(new):
        found.append("status.autoscaling.desiredReplicas")
    return found


def _read_spec(kind: str, obj: Object) -> object:
    """The spec as placement reads it: a Device's attributes (what it says of itself,
    an OPC UA node's value) are shown, never placed on."""
    spec = obj.get("spec")
    if kind == "Device" and isinstance(spec, dict):
        return {k: v for k, v in spec.items() if k != "attributes"}
    return spec


def _phase(obj: Object) -> object:
    return (obj.get("status") or {}).get("phase")


def _control(app: Object) -> object:
    return ((app.get("status") or {}).get("rollout") or {}).get("control")


def _desired(app: Object) -> object:
    return ((app.get("status") or {}).get("autoscaling") or {}).get("desiredReplicas")


def _meta(obj: Object) -> Mapping[str, object]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}
