"""A site's room and inventory from its cluster's nodes and pods (pure).

``cluster_facts`` sums what the nodes offer into the Site's capacity, allocatable and
inventory, so placement counts the room a cluster (or a node pool of one) really has:
capacity is the ``status.allocatable`` of the Ready, schedulable nodes; allocatable is
that minus the requests of the pods bound to them that have not finished, counted as
the scheduler counts them. ``pool_tolerations`` gives render the tolerations a pool's
node taints call for.

Nodes and pods come as the cluster returns them: a node that cannot be read adds no
room, a pod that cannot be read no requests, and nothing raises.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes.kubernetes.fields import MAX_ITEMS, Fields, Unreadable, text
from edgeplane.api.labels import check_label_key, check_label_value
from edgeplane.api.quantity import Quantity, QuantityError, cpu_millis, memory_bytes

ARCHITECTURES_MAX = 16
ACCELERATORS_MAX = 64
TOLERATIONS_MAX = 64
LIFECYCLE_TAINTS = "node.kubernetes.io/"
"""not-ready, unreachable, unschedulable, pressure...: render tolerates the ones that
matter for autonomy; the others must keep pods off a node."""
TRANSIENT_TAINTS = (
    "node.cloudprovider.kubernetes.io/",
    "ToBeDeletedByClusterAutoscaler",
    "DeletionCandidateOfClusterAutoscaler",
    "karpenter.sh/disruption",
)
"""Taints that say "not now" (a node starting, shutting down, or about to be removed):
tolerating them would place pods on such nodes, and each coming and going would change
every pod template of the pool (a rollout, or a Job's immutable template refused)."""
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1
_FINISHED = ("Succeeded", "Failed")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_ACCELERATOR_TYPES = ("gpu", "tpu", "npu")
_VERSION = re.compile(r"v([0-9]{1,6})\.([0-9]{1,6})\.([0-9]{1,6})([-+][0-9A-Za-z.+-]{0,40})?")
_ARCH = re.compile(r"[a-z0-9_]{1,32}")

_Room = tuple[int, int]
"""(CPU millicores, memory bytes)."""


@dataclass(frozen=True)
class ClusterFacts:
    capacity: dict[str, str]
    """``{"cpu": "8000m", "memory": "16777216Ki"}``: the Ready schedulable nodes' allocatable."""
    allocatable: dict[str, str]
    """Capacity minus the requests of the unfinished pods on those nodes."""
    nodes: int
    ready_nodes: int
    kubernetes_version: str | None
    """The most common kubelet version, else the apiserver's."""
    architectures: tuple[str, ...]
    accelerators: tuple[dict[str, Any], ...]
    """Wire ``Accelerator`` objects: type, vendor, model (when labelled), count."""


@dataclass(frozen=True)
class _Node:
    name: str
    usable: bool
    """Ready and schedulable: its room counts."""
    room: _Room
    accelerators: Mapping[tuple[str, str, str], int]


def cluster_facts(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    server_version: str | None = None,
) -> ClusterFacts:
    """The facts a site reports from these nodes and the pods on them."""
    read = [_read_node(node) for node in nodes]
    usable = [n for n in read if n is not None and n.usable]
    names = {n.name for n in usable}
    capacity = _total(n.room for n in usable)
    used = _total(pod_requests(p) for p in pods if _counts_against(p, names))
    free = (max(0, capacity[0] - used[0]), max(0, capacity[1] - used[1]))
    return ClusterFacts(
        capacity=_resources(capacity),
        allocatable=_resources(free),
        nodes=len(nodes),
        ready_nodes=sum(1 for node in nodes if _ready(node)),
        kubernetes_version=_version(nodes, server_version),
        architectures=_architectures(nodes),
        accelerators=_accelerators(usable),
    )


def pool_tolerations(nodes: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """One toleration per distinct taint of these nodes (Exists on the key when the taint
    has no value, else Equal on key and value), except the node-lifecycle taints."""
    found: set[tuple[str, str, str]] = set()
    for node in nodes:
        try:
            taints = Fields(node).items("spec.taints")
        except Unreadable:
            continue
        found.update(t for t in map(_taint, taints) if t is not None)
    tolerations = [_toleration(*taint) for taint in sorted(found)]
    return tuple(tolerations[:TOLERATIONS_MAX])


def pod_requests(pod: Mapping[str, Any]) -> _Room:
    """What the scheduler counts for a pod: the containers' requests plus its sidecars
    (restartable init containers), or the largest init step when that is more; pod-level
    requests where set; plus the runtime class's overhead. (0, 0) when unreadable."""
    try:
        f = Fields(pod)
        total = _total(_requests(c) for c in f.items("spec.containers"))
        sidecars, init_peak = (0, 0), (0, 0)
        for container in f.items("spec.initContainers"):
            step = _requests(container)
            if isinstance(container, Mapping) and container.get("restartPolicy") == "Always":
                sidecars = _add(sidecars, step)
                total, step = _add(total, step), sidecars
            else:
                step = _add(step, sidecars)
            init_peak = (max(init_peak[0], step[0]), max(init_peak[1], step[1]))
        total = (max(total[0], init_peak[0]), max(total[1], init_peak[1]))
        total = _pod_level(f.mapping("spec.resources.requests"), total)
        return _add(total, _room(f.mapping("spec.overhead")))
    except Unreadable:
        return (0, 0)


def _requests(container: Any) -> _Room:
    if not isinstance(container, Mapping):
        return (0, 0)
    resources = container.get("resources")
    requests = resources.get("requests") if isinstance(resources, Mapping) else None
    return _room(requests if isinstance(requests, Mapping) else {})


def _pod_level(requests: Mapping[str, Any], total: _Room) -> _Room:
    """Pod-level requests (PodLevelResources) replace the containers' sum where set."""
    cpu, memory = _room(requests)
    return (cpu if "cpu" in requests else total[0], memory if "memory" in requests else total[1])


def _room(resources: Mapping[str, Any]) -> _Room:
    cpu, memory = _quantity(resources.get("cpu")), _quantity(resources.get("memory"))
    return (
        0 if cpu is None else min(_MAX, cpu_millis(cpu)),
        0 if memory is None else min(_MAX, memory_bytes(memory)),
    )


def _quantity(value: Any) -> Quantity | None:
    if not isinstance(value, str):
        return None  # the apiserver writes quantities as strings
    try:
        return Quantity.parse(value)
    except QuantityError:
        return None


def _add(a: _Room, b: _Room) -> _Room:
    return (min(_MAX, a[0] + b[0]), min(_MAX, a[1] + b[1]))


def _total(rooms: Iterable[_Room]) -> _Room:
    total = (0, 0)
    for room in rooms:
        total = _add(total, room)
    return total


def _resources(room: _Room) -> dict[str, str]:
    return {"cpu": f"{room[0]}m", "memory": f"{room[1] // 1024}Ki"}


def _counts_against(pod: Mapping[str, Any], nodes: set[str]) -> bool:
    try:
        f = Fields(pod)
        return f.text("spec.nodeName") in nodes and f.text("status.phase") not in _FINISHED
    except Unreadable:
        return False


def _ready(node: Mapping[str, Any]) -> bool:
    try:
        return Fields(node).true("Ready") is not None
    except Unreadable:
        return False


def _read_node(node: Mapping[str, Any]) -> _Node | None:
    try:
        f = Fields(node)
        name = f.text("metadata.name")
        usable = f.true("Ready") is not None and f.get("spec.unschedulable") is not True
        allocatable = f.mapping("status.allocatable")
        model = text(f.mapping("metadata.labels").get(GPU_PRODUCT_LABEL))
    except Unreadable:
        return None
    return _Node(
        name, usable and bool(name), _room(allocatable), _node_accelerators(allocatable, model)
    )


def _node_accelerators(
    allocatable: Mapping[str, Any], model: str
) -> dict[tuple[str, str, str], int]:
    """(type, vendor, model) -> count, from extended resources such as ``nvidia.com/gpu``."""
    found: dict[tuple[str, str, str], int] = {}
    for resource, value in list(allocatable.items())[:MAX_ITEMS]:
        kind = _accelerator_type(resource)
        quantity = _quantity(value)
        if kind is None or quantity is None or quantity.value != quantity.value.to_integral():
            continue
        domain = resource.partition("/")[0]
        labels = domain.split(".")
        vendor = labels[-2] if len(labels) > 1 else labels[0]
        key = (kind, vendor, model if domain == "nvidia.com" else "")
        found[key] = found.get(key, 0) + min(_INT32_MAX, int(quantity.value))
    return found


def _accelerator_type(resource: Any) -> str | None:
    """gpu, tpu or npu for an extended resource ``<vendor domain>/<name>`` that names one."""
    if not isinstance(resource, str) or "/" not in resource:
        return None
    domain, _, name = resource.partition("/")
    if domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        return None
    return next((t for t in _ACCELERATOR_TYPES if t in name.lower()), None) or next(
        (t for t in _ACCELERATOR_TYPES if t in domain.lower()), None
    )


def _accelerators(nodes: Sequence[_Node]) -> tuple[dict[str, Any], ...]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for node in nodes:
        counts.update(node.accelerators)
    found = []
    for (kind, vendor, model), count in sorted(counts.items()):
        if count > 0:
            accelerator = {"type": kind, "vendor": vendor, "count": min(_INT32_MAX, count)}
            found.append(accelerator | ({"model": model} if model else {}))
    return tuple(found[:ACCELERATORS_MAX])


def _version(nodes: Sequence[Mapping[str, Any]], server: str | None) -> str | None:
    """The most common kubelet version that reads vX.Y.Z (the newest of a tie), else the
    apiserver's when it does."""
    versions: Counter[str] = Counter()
    for node in nodes:
        info = _node_info(node)
        version = text(info.get("kubeletVersion"))
        if _VERSION.fullmatch(version):
            versions[version] += 1
    if versions:
        return max(versions, key=lambda v: (versions[v], _version_key(v)))
    return server if isinstance(server, str) and _VERSION.fullmatch(server) else None


def _version_key(version: str) -> tuple[int, ...]:
    match = _VERSION.fullmatch(version)
    return tuple(int(part) for part in match.groups()[:3]) if match else ()


def _architectures(nodes: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    found: set[str] = set()
    for node in nodes:
        arch = text(_node_info(node).get("architecture")) or _label(node, "kubernetes.io/arch")
        if _ARCH.fullmatch(arch):
            found.add(arch)
    return tuple(sorted(found)[:ARCHITECTURES_MAX])


def _node_info(node: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        return Fields(node).mapping("status.nodeInfo")
    except Unreadable:
        return {}


def _label(node: Mapping[str, Any], key: str) -> str:
    try:
        return text(Fields(node).mapping("metadata.labels").get(key))
    except Unreadable:
        return ""


def _taint(taint: Any) -> tuple[str, str, str] | None:
    """(key, value, effect) of a well-formed taint that is neither a node-lifecycle one
    nor a transient one."""
    if not isinstance(taint, Mapping):
        return None
    key, value, effect = taint.get("key"), taint.get("value") or "", taint.get("effect")
    if not isinstance(key, str) or not isinstance(value, str) or effect not in _EFFECTS:
        return None
    if key.startswith((LIFECYCLE_TAINTS, *TRANSIENT_TAINTS)):
        return None
    if check_label_key(key) or check_label_value(value):
        return None
    return key, value, str(effect)


def _toleration(key: str, value: str, effect: str) -> dict[str, Any]:
    if not value:
        return {"key": key, "operator": "Exists", "effect": effect}
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}
