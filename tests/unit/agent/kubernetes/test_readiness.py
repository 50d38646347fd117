"""readiness: kstatus / ``kubectl rollout status`` rules per kind, messages a user can act
on, hostile objects read as in progress (never raising), and an assignment's summary."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.agent.runtimes.kubernetes.readiness import (
    CURRENT,
    FAILED,
    IN_PROGRESS,
    ObjectHealth,
    Summary,
    object_health,
    summarize,
)


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def make(
    api_version: str,
    kind: str,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    *conditions: dict[str, str],
    generation: int = 1,
    name: str = "web",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "generation": generation},
        "spec": spec or {},
    }
    if status is not None or conditions:
        obj["status"] = {**(status or {}), "conditions": list(conditions)}
    return obj


def deployment(spec: int | None, *conditions: dict[str, str], **status: Any) -> dict[str, Any]:
    return make(
        "apps/v1",
        "Deployment",
        {} if spec is None else {"replicas": spec},
        {"observedGeneration": 1, **status},
        *conditions,
    )


def counts(n: int, ready: int | None = None, **more: Any) -> dict[str, Any]:
    ready = n if ready is None else ready
    return {
        "replicas": n,
        "updatedReplicas": n,
        "availableReplicas": ready,
        "readyReplicas": ready,
        **more,
    }


def pod(phase: str | None, *conditions: dict[str, str], **status: Any) -> dict[str, Any]:
    state = {} if phase is None else {"phase": phase}
    return make("v1", "Pod", {}, {**state, **status}, *conditions, name="p")


def waiting(reason: str, message: str = "") -> list[dict[str, Any]]:
    return [{"name": "web", "state": {"waiting": {"reason": reason, "message": message}}}]


def service(**spec: Any) -> dict[str, Any]:
    return make("v1", "Service", {"selector": {"app": "web"}, **spec})


def endpoint_slice(service: str = "web", ready: bool | None = True) -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {
        "metadata": {"namespace": "shop", "labels": {"kubernetes.io/service-name": service}},
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": conditions}],
    }


AVAILABLE = cond("Available", "True", "MinimumReplicasAvailable")
UNAVAILABLE = cond("Available", "False", "MinimumReplicasUnavailable", "no minimum")
STUCK = cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-1" timed out')
QUOTA = cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota: compute")
UNSCHEDULABLE = cond("PodScheduled", "False", "Unschedulable", "0/3 nodes: Insufficient cpu")
SETS = {"currentRevision": "web-1", "updateRevision": "web-1"}
DS = {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3}
DS_ALL = {**DS, "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3}
CRD = "apiextensions.k8s.io/v1"

CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], str, str, int | None]] = [
    ("deployment-current", deployment(2, AVAILABLE, **counts(2)), [], CURRENT, "", 2),
    (
        "deployment-one-of-two-available",
        deployment(2, UNAVAILABLE, **counts(2, ready=1)),
        [],
        IN_PROGRESS,
        "1 of 2 replicas available (Available=False MinimumReplicasUnavailable)",
        1,
    ),
    (
        "deployment-generation-not-observed",
        {**deployment(2, **counts(2)), "metadata": {"name": "web", "generation": 3}},
        [],
        IN_PROGRESS,
        "generation 3 not observed yet by its controller",
        2,
    ),
    (
        "deployment-progress-deadline-exceeded",
        deployment(2, STUCK, replicas=2, updatedReplicas=2),
        [],
        FAILED,
        "rollout stuck: 0 of 2 replicas available (Progressing=False ProgressDeadlineExceeded: "
        'ReplicaSet "web-1" timed out)',
        0,
    ),
    (
        "deployment-updating",
        deployment(2, **counts(2, updatedReplicas=1)),
        [],
        IN_PROGRESS,
        "1 of 2 replicas updated",
        2,
    ),
    (
        "deployment-old-replicas-terminating",
        deployment(2, **counts(2, replicas=3)),
        [],
        IN_PROGRESS,
        "1 old replicas pending termination",
        2,
    ),
    (
        "deployment-quota",
        deployment(2, QUOTA, UNAVAILABLE),
        [],
        IN_PROGRESS,
        "0 of 2 replicas updated (ReplicaFailure=True FailedCreate: exceeded quota: compute)",
        0,
    ),
    ("deployment-scaled-to-zero", deployment(0), [], CURRENT, "", 0),
    (
        "deployment-default-one-replica",
        deployment(None),
        [],
        IN_PROGRESS,
        "0 of 1 replicas updated",
        0,
    ),
    (
        "statefulset-current",
        make("apps/v1", "StatefulSet", {"replicas": 2}, {**counts(2), **SETS}),
        [],
        CURRENT,
        "",
        2,
    ),
    (
        "statefulset-one-ready",
        make("apps/v1", "StatefulSet", {"replicas": 2}, {**counts(2, ready=1), **SETS}),
        [],
        IN_PROGRESS,
        "1 of 2 replicas ready",
        1,
    ),
    (
        "statefulset-rolling",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2},
            {**counts(2, updatedReplicas=1), "updateRevision": "web-2", "currentRevision": "web-1"},
        ),
        [],
        IN_PROGRESS,
        "1 of 2 replicas updated",
        2,
    ),
    (
        "statefulset-partition-reached",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2, "updateStrategy": {"rollingUpdate": {"partition": 1}}},
            {**counts(2, updatedReplicas=1), "updateRevision": "web-2", "currentRevision": "web-1"},
        ),
        [],
        CURRENT,
        "",
        2,
    ),
    (
        "statefulset-on-delete",
        make(
            "apps/v1",
            "StatefulSet",
            {"replicas": 2, "updateStrategy": {"type": "OnDelete"}},
            {**counts(2, updatedReplicas=0), "updateRevision": "web-2", "currentRevision": "web-1"},
        ),
        [],
        CURRENT,
        "",
        2,
    ),
    (
        "daemonset-not-observed",
        make("apps/v1", "DaemonSet", {}, {}),
        [],
        IN_PROGRESS,
        "not observed yet by its controller",
        0,
    ),
    ("daemonset-current", make("apps/v1", "DaemonSet", {}, DS_ALL), [], CURRENT, "", 3),
    (
        "daemonset-two-of-three-available",
        make("apps/v1", "DaemonSet", {}, {**DS_ALL, "numberAvailable": 2, "numberReady": 2}),
        [],
        IN_PROGRESS,
        "2 of 3 pods available",
        2,
    ),
    (
        "daemonset-no-node-matches",
        make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 0}),
        [],
        CURRENT,
        "",
        0,
    ),
    (
        "replicaset-failure",
        make("apps/v1", "ReplicaSet", {"replicas": 2}, counts(1), QUOTA),
        [],
        IN_PROGRESS,
        "1 of 2 replicas available (ReplicaFailure=True FailedCreate: exceeded quota: compute)",
        1,
    ),
    (
        "replicaset-current",
        make("apps/v1", "ReplicaSet", {"replicas": 2}, counts(2)),
        [],
        CURRENT,
        "",
        2,
    ),
    (
        "job-complete",
        make("batch/v1", "Job", {}, {"succeeded": 1}, cond("Complete", "True")),
        [],
        CURRENT,
        "",
        None,
    ),
    (
        "job-failed",
        make("batch/v1", "Job", {}, {"failed": 7}, cond("Failed", "True", "BackoffLimitExceeded")),
        [],
        FAILED,
        "failed (BackoffLimitExceeded)",
        None,
    ),
    (
        "job-running",
        make("batch/v1", "Job", {}, {"active": 1}),
        [],
        IN_PROGRESS,
        "not complete yet (0 succeeded, 1 running, 0 failed)",
        None,
    ),
    (
        "job-suspended",
        make("batch/v1", "Job", {}, {}, cond("Suspended", "True")),
        [],
        CURRENT,
        "",
        None,
    ),
    ("cronjob-exists", make("batch/v1", "CronJob", {"schedule": "@daily"}), [], CURRENT, "", None),
    ("pod-ready", pod("Running", cond("Ready", "True")), [], CURRENT, "", 1),
    (
        "pod-image-pull",
        pod("Pending", containerStatuses=waiting("ImagePullBackOff", 'Back-off pulling "x:nope"')),
        [],
        IN_PROGRESS,
        'container web waiting (ImagePullBackOff: Back-off pulling "x:nope")',
        0,
    ),
    (
        "pod-crash-loop",
        pod("Running", cond("Ready", "False"), containerStatuses=waiting("CrashLoopBackOff")),
        [],
        FAILED,
        "container web in CrashLoopBackOff",
        0,
    ),
    (
        "pod-unschedulable",
        pod("Pending", UNSCHEDULABLE),
        [],
        IN_PROGRESS,
        "not scheduled (PodScheduled=False Unschedulable: 0/3 nodes: Insufficient cpu)",
        0,
    ),
    (
        "pod-running-not-ready",
        pod("Running", cond("Ready", "False", "ContainersNotReady")),
        [],
        IN_PROGRESS,
        "running, not Ready (Ready=False ContainersNotReady)",
        0,
    ),
    ("pod-succeeded", pod("Succeeded"), [], CURRENT, "", 0),
    ("pod-evicted", pod("Failed", reason="Evicted"), [], FAILED, "failed (Evicted)", 0),
    ("pod-not-observed", pod(None), [], IN_PROGRESS, "not observed yet by its kubelet", 0),
    (
        "pvc-bound",
        make("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}),
        [],
        CURRENT,
        "",
        None,
    ),
    (
        "pvc-pending",
        make("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}),
        [],
        IN_PROGRESS,
        "Pending, not Bound",
        None,
    ),
    (
        "pvc-lost",
        make("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}),
        [],
        FAILED,
        "Lost: its PersistentVolume is gone",
        None,
    ),
    ("service-with-endpoint", service(), [endpoint_slice()], CURRENT, "", None),
    ("service-ready-unknown", service(), [endpoint_slice(ready=None)], CURRENT, "", None),
    (
        "service-no-endpoints",
        service(),
        [],
        IN_PROGRESS,
        "no ready endpoints (no Ready pod matches selector app=web)",
        None,
    ),
    (
        "service-endpoint-not-ready",
        service(),
        [endpoint_slice(ready=False)],
        IN_PROGRESS,
        "no ready endpoints (no Ready pod matches selector app=web)",
        None,
    ),
    (
        "service-slices-of-another-service",
        service(),
        [endpoint_slice("api")],
        IN_PROGRESS,
        "no ready endpoints (no Ready pod matches selector app=web)",
        None,
    ),
    ("service-without-selector", service(selector=None), [], CURRENT, "", None),
    ("service-external-name", service(type="ExternalName"), [], CURRENT, "", None),
    (
        "service-load-balancer-pending",
        service(type="LoadBalancer"),
        [endpoint_slice()],
        IN_PROGRESS,
        "no load balancer address yet (status.loadBalancer.ingress is empty)",
        None,
    ),
    (
        "service-load-balancer-ready",
        {
            **service(type="LoadBalancer"),
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        },
        [endpoint_slice()],
        CURRENT,
        "",
        None,
    ),
    (
        "crd-established",
        make(CRD, "CustomResourceDefinition", {}, {}, cond("Established", "True")),
        [],
        CURRENT,
        "",
        None,
    ),
    (
        "crd-installing",
        make(CRD, "CustomResourceDefinition", {}, {}, cond("Established", "False", "Installing")),
        [],
        IN_PROGRESS,
        "not Established yet",
        None,
    ),
    (
        "crd-names-refused",
        make(
            CRD,
            "CustomResourceDefinition",
            {},
            {},
            cond("NamesAccepted", "False", "MultipleNamesNotAllowed", "kind taken"),
        ),
        [],
        FAILED,
        "names not accepted (NamesAccepted=False MultipleNamesNotAllowed: kind taken)",
        None,
    ),
    ("custom-resource-exists", make("gadgets.io/v1", "Widget"), [], CURRENT, "", None),
    (
        "custom-resource-stalled",
        make("gadgets.io/v1", "Widget", {}, {}, cond("Stalled", "True", "BadSpec", "size < 0")),
        [],
        FAILED,
        "stalled (Stalled=True BadSpec: size < 0)",
        None,
    ),
    (
        "custom-resource-reconciling",
        make("gadgets.io/v1", "Widget", {}, {}, cond("Reconciling", "True", "Working")),
        [],
        IN_PROGRESS,
        "reconciling (Reconciling=True Working)",
        None,
    ),
    (
        "being-deleted",
        {
            **make("v1", "ConfigMap"),
            "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        },
        [],
        IN_PROGRESS,
        "being deleted",
        None,
    ),
    ("configmap-exists", make("v1", "ConfigMap"), [], CURRENT, "", None),
]


@pytest.mark.parametrize(
    ("obj", "slices", "state", "message", "ready"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_object_health(
    obj: dict[str, Any], slices: list[dict[str, Any]], state: str, message: str, ready: int | None
) -> None:
    health = object_health(obj, slices)
    assert (health.state, health.message, health.ready) == (state, message, ready)


@pytest.mark.parametrize(
    ("obj", "label"),
    [
        (make("apps/v1", "Deployment"), "Deployment shop/web"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}, "Namespace shop"),
        ({"kind": 7, "metadata": {"name": ["x"]}}, "object ?"),
        ("not an object", "object ?"),
    ],
    ids=["namespaced", "cluster-scoped", "garbage-fields", "not-an-object"],
)
def test_labels(obj: Any, label: str) -> None:
    assert object_health(obj).label == label


HUGE = 10**5000  # str() of it raises ValueError on Python 3.11+


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = obj
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return obj


HOSTILE = [
    (deployment(2), "status.readyReplicas", "2", "status.readyReplicas: expected a whole number"),
    (deployment(2), "status", ["x"], "status: expected an object"),
    (deployment(2), "spec.replicas", HUGE, "spec.replicas: expected a whole number"),
    (deployment(2), "spec.replicas", -1, "spec.replicas: expected a whole number"),
    (deployment(2), "status.observedGeneration", True, "status.observedGeneration"),
    (
        deployment(2),
        "status.conditions",
        {"type": "Available"},
        "status.conditions: expected a list",
    ),
    (
        deployment(2),
        "status.conditions",
        [{"status": "True"}],
        "status.conditions[0]: expected type",
    ),
    (deployment(2), "metadata.generation", 1.5, "metadata.generation: expected a whole number"),
    (deployment(2), "kind", 7, "kind: expected a string"),
    (pod("Running"), "status.phase", 5, "status.phase: expected a string"),
    (
        pod("Running"),
        "status.containerStatuses",
        {"a": 1},
        "status.containerStatuses: expected a list",
    ),
    (service(), "spec.selector", ["app"], "spec.selector: expected a map"),
    (make("apps/v1", "DaemonSet", {}, DS), "status.numberReady", HUGE, "status.numberReady"),
    (make("batch/v1", "Job"), "status.active", "1", "status.active"),
]


@pytest.mark.parametrize(
    ("obj", "path", "value", "words"),
    HOSTILE,
    ids=[
        "count-as-string",
        "status-as-list",
        "huge-number",
        "negative-count",
        "bool-generation",
        "conditions-as-map",
        "condition-without-type",
        "float-generation",
        "kind-not-a-string",
        "phase-as-number",
        "container-statuses-as-map",
        "selector-as-list",
        "daemonset-huge-count",
        "job-count-as-string",
    ],
)
def test_hostile_fields_read_as_in_progress(
    obj: dict[str, Any], path: str, value: Any, words: str
) -> None:
    health = object_health(_with(obj, path, value))
    assert health.state == IN_PROGRESS
    assert health.message.startswith("could not read ") and words in health.message


def test_a_non_object_reads_as_in_progress() -> None:
    health = object_health(["not", "an", "object"])  # type: ignore[arg-type]
    assert health == ObjectHealth(
        "object ?", IN_PROGRESS, "could not read the object: expected an object", None
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.builds(lambda: HUGE)  # built, not st.just: hypothesis cannot repr it
    | st.sampled_from([2**63, 2**64])
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.sampled_from(["True", "False", "Running", "Bound", "LoadBalancer", "Available"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KINDS = st.sampled_from(
    [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("v1", "Pod"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "Service"),
        (CRD, "CustomResourceDefinition"),
        ("gadgets.io/v1", "Widget"),
    ]
)
FIELDS = st.sampled_from(
    [
        "spec",
        "status",
        "metadata",
        "spec.replicas",
        "spec.selector",
        "spec.type",
        "spec.updateStrategy",
        "status.conditions",
        "status.readyReplicas",
        "status.phase",
        "status.containerStatuses",
        "status.loadBalancer",
        "status.observedGeneration",
        "metadata.generation",
        "metadata.deletionTimestamp",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    kind=KINDS,
    changes=st.lists(st.tuples(FIELDS, JSON), max_size=4),
    slices=st.lists(JSON, max_size=2),
)
def test_object_health_never_raises(
    kind: tuple[str, str], changes: list[tuple[str, Any]], slices: list[Any]
) -> None:
    obj = make(*kind)
    for path, value in changes:
        node: Any = obj
        *parents, last = path.split(".")
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = value
    health = object_health(obj, slices)
    assert health.state in (CURRENT, IN_PROGRESS, FAILED)
    assert len(health.message) < 2000 and (health.message == "") == (health.state == CURRENT)
    assert health.ready is None or 0 <= health.ready < 2**31


def _health(label: str, state: str, message: str = "", ready: int | None = None) -> ObjectHealth:
    return ObjectHealth(label, state, message, ready)


SUMMARIES = [
    ([], Summary("Running", 0, None, None)),
    (
        [_health("Namespace shop", CURRENT), _health("Deployment shop/web", CURRENT, ready=2)],
        Summary("Running", 2, None, None),
    ),
    (
        [
            _health("Deployment shop/web", IN_PROGRESS, "1 of 2 replicas available", 1),
            _health("ConfigMap shop/cfg", CURRENT),
        ],
        Summary("Starting", 1, "Progressing", "Deployment shop/web: 1 of 2 replicas available"),
    ),
    (
        [
            _health("Service shop/web", IN_PROGRESS, "no ready endpoints"),
            _health("Job shop/migrate", FAILED, "failed (BackoffLimitExceeded)"),
            _health("Deployment shop/web", IN_PROGRESS, "0 of 1 replicas updated", 0),
        ],
        Summary(
            "Failed",
            0,
            "Failed",
            "Job shop/migrate: failed (BackoffLimitExceeded) (and 2 more not ready)",
        ),
    ),
    (
        [
            _health("DaemonSet a", CURRENT, ready=2**31 - 1),
            _health("DaemonSet b", CURRENT, ready=5),
        ],
        Summary("Running", 2**31 - 1, None, None),
    ),
]


@pytest.mark.parametrize(
    ("healths", "summary"),
    SUMMARIES,
    ids=["nothing", "all-current", "one-in-progress", "failed-comes-first", "ready-bounded"],
)
def test_summarize(healths: list[ObjectHealth], summary: Summary) -> None:
    assert summarize(healths) == summary
