"""``edgeplane logs`` for a Kubernetes assignment: the tail of every container of its
pods (label ``edgeplane.io/assignment``), each line prefixed ``[pod/container]``.

Bounded: at most ``MAX_PODS`` pods, ``MAX_READS`` containers in all (a pod may declare
hundreds, each a request), the tail lines asked per container, and ``MAX_BYTES`` in
all (the process runtime's bound on a tail).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import KubeClient, KubeError, KubeUnreachable
from edgeplane.agent.runtimes.kubernetes.render import ASSIGNMENT_LABEL, label_value

MAX_PODS = 32
MAX_READS = 64
MAX_BYTES = 4 * 1024 * 1024
CUT = "[cut: more than 4 MiB of logs]\n"


async def assignment_logs(
    client: KubeClient, assignment: str, namespaces: Iterable[str], tail: int
) -> str:
    pods: list[Mapping[str, Any]] = []
    for namespace in sorted(set(namespaces)):
        selector = f"{ASSIGNMENT_LABEL}={label_value(assignment, 'assignment')}"
        pods += await client.list("v1", "Pod", namespace=namespace, label_selector=selector)
    if not pods:
        return f"(no pods of assignment {assignment} in the cluster)\n"
    out: list[str] = []
    size = 0
    reads = [(p, c) for p in sorted(pods, key=_pod_name)[:MAX_PODS] for c in _containers(p)]
    for pod, container in reads[:MAX_READS]:
        text = await _container_logs(client, pod, container, tail)
        size += len(text)
        if size > MAX_BYTES:
            return "".join(out) + CUT
        out.append(text)
    if len(reads) > MAX_READS:
        out.append(f"[cut: {len(reads) - MAX_READS} more containers not read]\n")
    return "".join(out)


async def _container_logs(
    client: KubeClient, pod: Mapping[str, Any], container: str, tail: int
) -> str:
    meta = pod.get("metadata") or {}
    prefix = f"[{meta.get('name')}/{container}] "
    try:
        text = await client.pod_logs(
            str(meta.get("namespace")), str(meta.get("name")), container=container, tail_lines=tail
        )
    except KubeUnreachable:
        raise
    except KubeError as e:  # a pod not started yet has no logs: say so, read the others
        text = f"(no logs: {e.message})\n"
    return "".join(f"{prefix}{line}\n" for line in text.splitlines())


def _pod_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name"))


def _containers(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) if isinstance(c, dict)]
    return [n for n in names if isinstance(n, str)]
