"""What a workload is told of where it runs: its site, application, assignment, replica
and, for a fenced assignment, its epoch, in its environment (``EDGEPLANE_*``). Used by
the reconciler for every runtime; pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from edgeplane.api.wire import Object

DEVICES_ENV = "EDGEPLANE_DEVICES"
"""The instance's devices as a JSON list (also written to ``DEVICES_FILE``)."""
DEVICES_FILE_ENV = "EDGEPLANE_DEVICES_FILE"
DEVICES_FILE = "devices.json"


def with_identity(
    workload: Mapping[str, Any],
    obj: Object,
    replica: int = 0,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The workload with ``EDGEPLANE_SITE``, ``EDGEPLANE_APPLICATION``,
    ``EDGEPLANE_ASSIGNMENT``, ``EDGEPLANE_REPLICA``, for an assignment that carries
    one, ``EDGEPLANE_EPOCH``, and ``extra`` (the data plane's: ``agent.data``) in its
    environment; the workload's own values win."""
    spec = obj["spec"]
    env = workload.get("env") or []
    own = dict(env) if isinstance(env, dict) else {e["name"]: e.get("value", "") for e in env}
    identity = {
        "EDGEPLANE_SITE": spec.get("site", ""),
        "EDGEPLANE_APPLICATION": spec.get("application", ""),
        "EDGEPLANE_ASSIGNMENT": obj["metadata"]["name"],
        "EDGEPLANE_REPLICA": str(replica),
    }
    if spec.get("epoch") is not None:
        identity["EDGEPLANE_EPOCH"] = str(spec["epoch"])
    identity.update(device_env(spec.get("devices") or [], replica))
    identity.update(extra or {})
    return {**workload, "env": {**identity, **own}}


def device_env(devices: list[Mapping[str, Any]], replica: int) -> dict[str, str]:
    """What instance ``replica`` is told of the devices it was given
    (``placement.binding``): ``EDGEPLANE_DEVICE_COUNT``, then for each, in the order of
    the application's requirements, ``EDGEPLANE_DEVICE_<i>_NAME``, ``_ADDRESS`` and
    ``_PROTOCOL``, and all of them as JSON in ``EDGEPLANE_DEVICES`` (the runtime also
    writes that to a file: ``EDGEPLANE_DEVICES_FILE``). Nothing without devices."""
    mine = [d for d in devices if d.get("instance") == replica]
    if not mine:
        return {}
    env = {"EDGEPLANE_DEVICE_COUNT": str(len(mine))}
    for i, device in enumerate(mine):
        for key in ("name", "address", "protocol"):
            env[f"EDGEPLANE_DEVICE_{i}_{key.upper()}"] = str(device.get(key) or "")
    shown = [
        {k: d[k] for k in ("name", "address", "protocol", "requirement") if k in d} for d in mine
    ]
    env[DEVICES_ENV] = json.dumps(shown, separators=(",", ":"))
    return env
