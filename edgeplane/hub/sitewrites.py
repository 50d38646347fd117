"""What the hub decides itself when a site writes its own Site's status.

Validation says a status is well-formed; this says what a site may claim in it:

* ``lastHeartbeat`` is the hub's receive time, whatever the agent sent: liveness must
  not rest on the site's clock (a heartbeat dated 2099 kept a dead site Online).
* labels under the reserved ``edgeplane.io/`` prefix are the hub's and the admins'; a
  site may not give them to the devices it reports (422 naming the label).

Admins' writes pass unchanged: they are trusted with both. Neighbours: ``resources``
(the status routes call ``site_written``), ``controllers.health`` (reads the time).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from edgeplane.api.wellknown import RESERVED_DOMAIN, reserved_label
from edgeplane.hub.errors import ApiError
from edgeplane.store.protocol import Object


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_written(request: Request, obj: Object) -> Object:
    """``obj`` (a validated status write) as the hub keeps it when a site wrote it."""
    principal = getattr(request.state, "principal", None)
    if obj.get("kind") != "Site" or principal is None or principal.role != "site":
        return obj
    status: dict[str, Any] = obj.get("status") or {}
    _refuse_reserved_labels(status)
    obj["status"] = {**status, "lastHeartbeat": rfc3339(time.time())}
    return obj


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
