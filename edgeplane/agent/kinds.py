"""Which runtime an assignment needs, and what the kubernetes runtime is given of it.

An assignment's kind is ``kubernetes`` when its ``spec.workload.kubernetes`` is set, else
``process``. The reconciler runs the kinds its agent was started with (one, or both)
and reports the others as ``UnsupportedWorkload`` with the messages here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeplane.api.wire import Object


def is_kubernetes(obj: Object) -> bool:
    """Whether the assignment's workload is ``kubernetes`` (else ``process``)."""
    return (obj.get("spec") or {}).get("workload", {}).get("kubernetes") is not None


def kubernetes_workload(obj: Object) -> dict[str, Any]:
    """``spec.workload.kubernetes`` with the identity render labels objects with."""
    spec = obj["spec"]
    identity = {
        "site": spec.get("site", ""),
        "application": spec.get("application", ""),
        "assignment": obj["metadata"]["name"],
        "revision": int(spec.get("revision") or 1),
    }
    return {**spec["workload"]["kubernetes"], "identity": identity}


def admit_count(desired: Mapping[str, Object], running: set[str], limit: int) -> set[str]:
    """The kubernetes assignments that fit under the site's instance cap: those that run
    first, then by name (the cluster's scheduler decides about cpu and memory)."""
    names = sorted(
        (n for n, obj in desired.items() if is_kubernetes(obj)), key=lambda n: (n not in running, n)
    )
    return set(names[:limit])


UNSUPPORTED = {
    "process": "this site runs the process runtime: give the application a "
    "workload.process, or place it on a kubernetes site",
    "kubernetes": "this site runs the kubernetes runtime: give the application a "
    "workload.kubernetes, or place it on a process site",
}


def kind_of(obj: Object) -> str:
    return "kubernetes" if is_kubernetes(obj) else "process"
