"""What a workload is told of where it runs: its site, application, assignment, replica
and, for a fenced assignment, its epoch, in its environment (``EDGEPLANE_*``). Used by
the reconciler for every runtime; pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeplane.api.wire import Object


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
    identity.update(extra or {})
    return {**workload, "env": {**identity, **own}}
