"""How ready an applied object is, and an assignment's status from its objects (pure).

The rules are kstatus's (sigs.k8s.io/cli-utils/pkg/kstatus/status) and
``kubectl rollout status``'s: a controller that has not observed the latest generation is
in progress; a Deployment is Current once every replica is updated, available and ready;
a Job once it is Complete; a PersistentVolumeClaim once Bound; a Service once an endpoint
is ready; a kind without a rule once it exists. Messages say what a user can act on: the
count that falls short and the failing condition with its reason.

Objects come as the cluster returns them, and nothing here trusts their shape: a field
of the wrong type reads as in progress, saying which field, and never raises. The runtime
reads the objects (``health``); this module only judges them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes import Phase
from edgeplane.agent.runtimes.kubernetes.fields import (
    Condition,
    Fields,
    Unreadable,
    text,
)

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"

_INT32_MAX = 2**31 - 1
_SERVICE_NAME = "kubernetes.io/service-name"


@dataclass(frozen=True)
class ObjectHealth:
    label: str
    """``Deployment shop/web``."""
    state: str
    """``Current``, ``InProgress`` or ``Failed``."""
    message: str
    """"" when Current, else what falls short and why, e.g.
    ``1 of 2 replicas available (Available=False MinimumReplicasUnavailable)``."""
    ready: int | None
    """Ready replicas of a workload object (Deployment, StatefulSet, DaemonSet,
    ReplicaSet, Pod); None for the others."""


@dataclass(frozen=True)
class Summary:
    phase: str
    ready: int
    reason: str | None
    message: str | None


def object_health(
    obj: Mapping[str, Any], endpoint_slices: Sequence[Mapping[str, Any]] = ()
) -> ObjectHealth:
    """The health of one object as read from the cluster; ``endpoint_slices`` are
    those of a Service (others are ignored)."""
    label = object_label(obj)
    try:
        fields = Fields(obj)
        state, message = _judge(fields, endpoint_slices)
        ready = _ready(fields)
    except Unreadable as e:
        return ObjectHealth(label, IN_PROGRESS, f"could not read {e.path}: {e.expected}", None)
    return ObjectHealth(label, state, "" if state == CURRENT else message, ready)


def summarize(healths: Sequence[ObjectHealth]) -> Summary:
    """An assignment's status: Running when every object is Current, Failed when any
    failed, else Starting; the message names the first object at fault."""
    ready = min(_INT32_MAX, sum(h.ready or 0 for h in healths))
    for state, phase, reason in (
        (FAILED, Phase.FAILED, "Failed"),
        (IN_PROGRESS, Phase.STARTING, "Progressing"),
    ):
        if faulty := [h for h in healths if h.state == state]:
            message = f"{faulty[0].label}: {faulty[0].message}"
            if others := sum(1 for h in healths if h.state != CURRENT) - 1:
                message += f" (and {others} more not ready)"
            return Summary(phase.value, ready, reason, message)
    return Summary(Phase.RUNNING.value, ready, None, None)


def object_label(obj: Any) -> str:
    """``Deployment shop/web``, ``Namespace shop``: whatever the object holds."""
    if not isinstance(obj, Mapping):
        return "object ?"
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    kind = text(obj.get("kind")) or "object"
    name = text(metadata.get("name")) or "?"
    namespace = text(metadata.get("namespace"))
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


_Verdict = tuple[str, str]
_OK: _Verdict = (CURRENT, "")


def _first(*checks: tuple[bool, str]) -> _Verdict:
    """In progress with the message of the first failing check, else Current."""
    return next(((IN_PROGRESS, message) for failing, message in checks if failing), _OK)


def _failing(conditions: Mapping[str, Condition], *bad: tuple[str, str]) -> str:
    """`` (Available=False Reason)`` for the first condition of ``bad`` in its bad status."""
    for kind, status in bad:
        if (c := conditions.get(kind)) is not None and c.status == status:
            return f" ({c.says(kind, detail=kind == 'ReplicaFailure')})"
    return ""


# -- the rules ------------------------------------------------------------------------


def _judge(f: Fields, slices: Sequence[Mapping[str, Any]]) -> _Verdict:
    generic = _generic(f)
    if generic is not None:
        return generic
    if (f.group, f.kind) == ("", "Service"):  # the one rule that reads other objects
        return _service(f, slices)
    rule = _RULES.get((f.group, f.kind))
    return rule(f) if rule is not None else _OK


def _generic(f: Fields) -> _Verdict | None:
    """kstatus's checks for every kind: deletion, the observed generation, and the
    Reconciling and Stalled conditions that custom controllers may set."""
    if f.text("metadata.deletionTimestamp"):
        return IN_PROGRESS, "being deleted"
    generation = f.int("metadata.generation", 0)
    observed = f.get("status.observedGeneration")
    if observed is not None and f.int("status.observedGeneration", 0) < generation:
        return IN_PROGRESS, f"generation {generation} not observed yet by its controller"
    if c := f.true("Stalled"):
        return FAILED, f"stalled ({c.says('Stalled', detail=True)})"
    if c := f.true("Reconciling"):
        return IN_PROGRESS, f"reconciling ({c.says('Reconciling', detail=True)})"
    return None


def _deployment(f: Fields) -> _Verdict:
    conditions = f.conditions()
    spec = f.int("spec.replicas", 1)
    updated = f.int("status.updatedReplicas", 0)
    available = f.int("status.availableReplicas", 0)
    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        why = progressing.says("Progressing", detail=True)
        return FAILED, f"rollout stuck: {available} of {spec} replicas available ({why})"
    replicas, ready = f.int("status.replicas", 0), f.int("status.readyReplicas", 0)
    state, message = _first(
        (updated < spec, f"{updated} of {spec} replicas updated"),
        (replicas > updated, f"{replicas - updated} old replicas pending termination"),
        (available < spec, f"{available} of {spec} replicas available"),
        (ready < spec, f"{ready} of {spec} replicas ready"),
    )
    bad = (("ReplicaFailure", "True"), ("Available", "False"), ("Progressing", "False"))
    return state, message and message + _failing(conditions, *bad)


def _statefulset(f: Fields) -> _Verdict:
    spec = f.int("spec.replicas", 1)
    replicas, ready = f.int("status.replicas", 0), f.int("status.readyReplicas", 0)
    updated = f.int("status.updatedReplicas", 0)
    partition = f.int("spec.updateStrategy.rollingUpdate.partition", 0)
    rolling = f.text("spec.updateStrategy.type", "RollingUpdate") != "OnDelete"
    revision = f.text("status.updateRevision")
    return _first(
        (replicas < spec, f"{replicas} of {spec} replicas created"),
        (ready < spec, f"{ready} of {spec} replicas ready"),
        (replicas > spec, f"{replicas - spec} replicas pending termination"),
        (
            rolling and updated < spec - partition,
            f"{updated} of {spec - partition} replicas updated",
        ),
        (
            rolling and not partition and revision != f.text("status.currentRevision"),
            f"rolling out revision {revision}",
        ),
    )


_DAEMONSET_COUNTS = (
    ("status.currentNumberScheduled", "scheduled"),
    ("status.updatedNumberScheduled", "updated"),
    ("status.numberAvailable", "available"),
    ("status.numberReady", "ready"),
)


def _daemonset(f: Fields) -> _Verdict:
    # Without these the controller has not acted on it yet (kstatus checks the same).
    if f.get("status.observedGeneration") is None or f.get("status.desiredNumberScheduled") is None:
        return IN_PROGRESS, "not observed yet by its controller"
    desired = f.int("status.desiredNumberScheduled", 0)
    for path, word in _DAEMONSET_COUNTS:
        if (count := f.int(path, 0)) < desired:
            return IN_PROGRESS, f"{count} of {desired} pods {word}"
    return _OK


def _replicaset(f: Fields) -> _Verdict:
    spec = f.int("spec.replicas", 1)
    available, ready = f.int("status.availableReplicas", 0), f.int("status.readyReplicas", 0)
    replicas = f.int("status.replicas", 0)
    state, message = _first(
        (available < spec, f"{available} of {spec} replicas available"),
        (ready < spec, f"{ready} of {spec} replicas ready"),
        (replicas > spec, f"{replicas - spec} replicas pending termination"),
    )
    return state, message and message + _failing(f.conditions(), ("ReplicaFailure", "True"))


def _job(f: Fields) -> _Verdict:
    for kind in ("Failed", "FailureTarget"):
        if c := f.true(kind):
            return FAILED, f"failed ({c.reason or kind})"
    if f.true("Complete") or f.true("Suspended"):
        return _OK
    succeeded, active = f.int("status.succeeded", 0), f.int("status.active", 0)
    failed = f.int("status.failed", 0)
    return IN_PROGRESS, (
        f"not complete yet ({succeeded} succeeded, {active} running, {failed} failed)"
    )


def _pod(f: Fields) -> _Verdict:
    phase = f.text("status.phase")
    if phase == "Succeeded":
        return _OK
    if phase == "Failed":
        return FAILED, f"failed ({f.text('status.reason') or 'a container exited in error'})"
    conditions = f.conditions()
    if phase == "Running" and f.true("Ready"):
        return _OK
    waiting = _waiting_containers(f)
    if crash := [name for name, reason, _ in waiting if reason == "CrashLoopBackOff"]:
        return FAILED, f"container {', '.join(crash)} in CrashLoopBackOff"
    if waiting:
        name, reason, message = waiting[0]
        return IN_PROGRESS, f"container {name} waiting ({reason}{': ' if message else ''}{message})"
    scheduled = conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return IN_PROGRESS, f"not scheduled ({scheduled.says('PodScheduled', detail=True)})"
    if phase == "Running":
        return IN_PROGRESS, "running, not Ready" + _failing(conditions, ("Ready", "False"))
    return IN_PROGRESS, phase or "not observed yet by its kubelet"


def _waiting_containers(f: Fields) -> list[tuple[str, str, str]]:
    """(name, reason, message) of each container waiting for a reason."""
    found: list[tuple[str, str, str]] = []
    for path in ("status.initContainerStatuses", "status.containerStatuses"):
        for item in f.items(path):
            waiting = (item.get("state") or {}) if isinstance(item, Mapping) else {}
            waiting = waiting.get("waiting") if isinstance(waiting, Mapping) else None
            if isinstance(waiting, Mapping) and (reason := text(waiting.get("reason"))):
                found.append((text(item.get("name")), reason, text(waiting.get("message"))))
    return found


def _pvc(f: Fields) -> _Verdict:
    phase = f.text("status.phase")
    if phase == "Bound":
        return _OK
    if phase == "Lost":
        return FAILED, "Lost: its PersistentVolume is gone"
    return IN_PROGRESS, f"{phase or 'no phase yet'}, not Bound"


def _service(f: Fields, slices: Sequence[Mapping[str, Any]]) -> _Verdict:
    service_type = f.text("spec.type", "ClusterIP")
    if service_type == "ExternalName":
        return _OK
    if service_type == "LoadBalancer" and not f.get("status.loadBalancer.ingress"):
        return IN_PROGRESS, "no load balancer address yet (status.loadBalancer.ingress is empty)"
    selector = f.mapping("spec.selector")
    if selector and not _has_ready_endpoint(f, slices):
        shown = ",".join(f"{text(k)}={text(v)}" for k, v in list(selector.items())[:4])
        return IN_PROGRESS, f"no ready endpoints (no Ready pod matches selector {shown})"
    return _OK


def _has_ready_endpoint(f: Fields, slices: Sequence[Mapping[str, Any]]) -> bool:
    name, namespace = f.text("metadata.name"), f.text("metadata.namespace")
    for item in slices:
        meta = item.get("metadata") if isinstance(item, Mapping) else None
        if not isinstance(meta, Mapping) or meta.get("namespace") not in (None, namespace):
            continue
        labels = meta.get("labels")
        if not isinstance(labels, Mapping) or labels.get(_SERVICE_NAME) != name:
            continue
        endpoints = item.get("endpoints")
        for endpoint in endpoints if isinstance(endpoints, list) else ():
            conditions = endpoint.get("conditions") if isinstance(endpoint, Mapping) else None
            # An unset ready means unknown, which EndpointSlice consumers read as ready.
            ready = conditions.get("ready") if isinstance(conditions, Mapping) else None
            if ready is True or (isinstance(endpoint, Mapping) and ready is None):
                return True
    return False


def _crd(f: Fields) -> _Verdict:
    conditions = f.conditions()
    names = conditions.get("NamesAccepted")
    if names is not None and names.status == "False":
        return FAILED, f"names not accepted ({names.says('NamesAccepted', detail=True)})"
    established = conditions.get("Established") or Condition("Unknown", "", "")
    if established.status == "True":
        return _OK
    if established.status == "False" and established.reason != "Installing":
        return FAILED, f"not established ({established.says('Established', detail=True)})"
    return IN_PROGRESS, "not Established yet"


_RULES: Mapping[tuple[str, str], Callable[[Fields], _Verdict]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}

_READY_FIELDS: Mapping[tuple[str, str], str] = {
    ("apps", "Deployment"): "status.readyReplicas",
    ("apps", "StatefulSet"): "status.readyReplicas",
    ("apps", "ReplicaSet"): "status.readyReplicas",
    ("apps", "DaemonSet"): "status.numberReady",
}


def _ready(f: Fields) -> int | None:
    if (f.group, f.kind) == ("", "Pod"):
        return int(f.text("status.phase") == "Running" and f.true("Ready") is not None)
    path = _READY_FIELDS.get((f.group, f.kind))
    return None if path is None else min(_INT32_MAX, f.int(path, 0))
