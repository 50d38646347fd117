"""The CPU an assignment's pods use, from the cluster's metrics API
(``metrics.k8s.io/v1beta1`` PodMetrics, which metrics-server serves).

The pods are the assignment's (label ``edgeplane.io/assignment``, in the namespaces its
objects are in, as for its logs). A pod counts when it is Running and Ready and the
metrics API has it: its containers' usage summed, over its containers' cpu requests
summed. A pod with a container that requests no cpu has no request of its own (as
Kubernetes' HorizontalPodAutoscaler reads it), so the assignment's
``spec.resources.cpu`` is used for it (``agent.metering``).

A cluster that does not serve the metrics API gives no value, said once in the log
(again once it comes back and goes away again). ``pod_cpu`` is pure; ``PodCpu`` reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgeplane.agent.runtimes import CpuUse
from edgeplane.agent.runtimes.kubernetes.client import KubeClient, KubeError, KubeUnreachable
from edgeplane.agent.runtimes.kubernetes.render import ASSIGNMENT_LABEL, label_value
from edgeplane.api.quantity import Quantity

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")
POD_METRICS = ("metrics.k8s.io/v1beta1", "PodMetrics")
MAX_PODS = 1024
"""Pods of one assignment measured at most (a sample's work stays bounded)."""
Item = Mapping[str, Any]


def pod_cpu(pods: Sequence[Item], metrics: Sequence[Item]) -> tuple[CpuUse, ...]:
    """One use per Ready pod that has metrics, in the pods' order."""
    usage = {_where(m): cores for m in metrics if (cores := _cores(m)) is not None}
    uses = []
    for pod in pods[:MAX_PODS]:
        cores = usage.get(_where(pod))
        if cores is not None and _ready(pod):
            uses.append(CpuUse(cores, _requested(pod)))
    return tuple(uses)


def _where(item: Item) -> tuple[str, str]:
    meta = item.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return str(meta.get("namespace")), str(meta.get("name"))


def _cpu(resources: Any) -> float | None:
    """``cpu`` of a usage or requests map in cores; None when absent or unreadable."""
    value = resources.get("cpu") if isinstance(resources, Mapping) else None
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        return float(Quantity.parse(value).value)
    except ValueError:
        return None


def _cores(metrics: Item) -> float | None:
    """The pod's usage summed over its containers; None unless every one says it."""
    containers = metrics.get("containers")
    if not isinstance(containers, list) or not containers:
        return None
    used = [_cpu(c.get("usage")) if isinstance(c, Mapping) else None for c in containers]
    return None if None in used else sum(u for u in used if u is not None)


def _requested(pod: Item) -> float | None:
    """The pod's cpu request (its containers'); None unless every one requests some."""
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list) or not containers:
        return None
    asked = [_cpu(_requests(c)) for c in containers]
    if None in asked:
        return None
    total = sum(a for a in asked if a is not None)
    return total if total > 0 else None


def _requests(container: Any) -> Any:
    resources = container.get("resources") if isinstance(container, Mapping) else None
    return resources.get("requests") if isinstance(resources, Mapping) else None


def _ready(pod: Item) -> bool:
    status = pod.get("status")
    if not isinstance(status, Mapping) or status.get("phase") != "Running":
        return False
    meta = pod.get("metadata")
    if isinstance(meta, Mapping) and meta.get("deletionTimestamp"):
        return False  # on its way out: its traffic is going elsewhere
    conditions = status.get("conditions")
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in (conditions if isinstance(conditions, list) else ())
    )


class PodCpu:
    """Reads the pods and their metrics of the assignments asked for."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._unserved: str | None = None
        """Why the metrics API gave nothing last (logged once until it answers)."""

    async def sample(
        self, assignments: Mapping[str, Iterable[str]]
    ) -> dict[str, tuple[CpuUse, ...]]:
        """Each assignment's (name -> its namespaces) pod uses; nothing while the
        cluster is unreachable or serves no metrics API."""
        uses: dict[str, tuple[CpuUse, ...]] = {}
        try:
            for name, namespaces in sorted(assignments.items()):
                uses[name] = await self._of(name, namespaces)
        except KubeUnreachable as e:
            log.debug("pod metrics not read: %s", e.message)
            return {}
        except KubeError as e:
            self._say_unserved(e)
            return {}
        self._unserved = None
        return uses

    async def _of(self, assignment: str, namespaces: Iterable[str]) -> tuple[CpuUse, ...]:
        selector = f"{ASSIGNMENT_LABEL}={label_value(assignment, 'assignment')}"
        pods: list[dict[str, Any]] = []
        metrics: list[dict[str, Any]] = []
        for namespace in sorted(set(namespaces)):
            # The metrics first: a cluster without the API is found before any pod list.
            metrics += await self.client.list(
                *POD_METRICS, namespace=namespace, label_selector=selector
            )
            pods += await self.client.list(
                "v1", "Pod", namespace=namespace, label_selector=selector
            )
        return pod_cpu(pods, metrics)

    def _say_unserved(self, error: KubeError) -> None:
        why = (
            "the cluster does not serve metrics.k8s.io/v1beta1 (install metrics-server)"
            if error.status == 404
            else f"the metrics API refused ({error.message})"
        )
        if why != self._unserved:
            log.warning("no cpu metric for kubernetes assignments: %s", why)
        self._unserved = why
