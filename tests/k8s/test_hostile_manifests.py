"""Hostile manifests against the apply engine on a real control plane (hack/kube):
one application must not be able to delete, take over or read as its own what it did
not create. Each test works in namespaces of its own.

* a workload namespace that existed before (another tenant's) is labelled but never
  deleted, even with a forged ``edgeplane.io/created-by`` annotation;
* an object that existed before (a ConfigMap, a ClusterRole) is refused and left as it
  was; a ClusterRole the agent created is deleted with its assignment;
* an object of another assignment is refused, left as it was;
* a CRD that never becomes Established ends the apply with its condition's message.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from typing import Any

import pytest

from edgeplane.agent.runtimes.kubernetes import apply as apply_module
from edgeplane.agent.runtimes.kubernetes.apply import ApplyOutcome, apply_objects, delete_objects
from edgeplane.agent.runtimes.kubernetes.client import KubeClient, ObjectRef
from edgeplane.agent.runtimes.kubernetes.inventory import inventory_ref
from edgeplane.agent.runtimes.kubernetes.ownership import CREATED
from edgeplane.agent.runtimes.kubernetes.render import ASSIGNMENT_LABEL, Identity, render
from tests.support.waiting import wait_until_async

SCOPES = {
    ("v1", "Namespace"): False,
    ("v1", "ConfigMap"): True,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): False,
}


@pytest.fixture
def ns() -> str:
    return f"h-{secrets.token_hex(4)}"


async def gone(kube: KubeClient, ref: ObjectRef) -> bool:
    return await kube.get(ref) is None


def config_map(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}}


def cluster_role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }


def rendered(
    manifests: list[dict[str, Any]],
    ns: str,
    assignment: str,
    revision: int = 1,
    allowed: tuple[str, ...] = (),
) -> Any:
    workload = {"manifests": manifests, "namespace": ns, "allowedNamespaces": list(allowed)}
    identity = Identity(site="site-0", application="app", assignment=assignment, revision=revision)
    return render(workload, identity, scopes=SCOPES)


async def apply(kube: KubeClient, objects: Any, ns: str, assignment: str) -> ApplyOutcome:
    return await apply_objects(
        kube, objects, assignment=assignment, namespace=ns, field_manager="edgeplane", force=False
    )


async def tenant_makes(kube: KubeClient, obj: dict[str, Any]) -> ObjectRef:
    """An object someone else made before the agent ever applied it."""
    await kube.apply(obj, field_manager="tenant")
    return ObjectRef.of(obj)


async def test_a_namespace_that_existed_before_is_never_deleted(kube: KubeClient, ns: str) -> None:
    namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    namespace = await tenant_makes(kube, namespace_object)
    forged = {**namespace_object, "metadata": {"name": ns, "annotations": {CREATED: "evil"}}}
    outcome = await apply(kube, rendered([forged, config_map("own")], ns, "evil"), ns, "evil")
    assert outcome.error is None and outcome.conflicts == ()
    stored = await kube.get(namespace)
    assert stored is not None and CREATED not in stored["metadata"].get("annotations", {})
    assert stored["metadata"]["labels"][ASSIGNMENT_LABEL] == "evil"  # labelled, not created

    await delete_objects(kube, assignment="evil", namespace=ns)
    own = ObjectRef("v1", "ConfigMap", ns, "own")
    await wait_until_async(
        functools.partial(gone, kube, own),
        "the ConfigMap the agent made deleted",
        within=60.0,
        every=0.2,
    )
    stored = await kube.get(namespace)
    assert stored is not None and stored["status"]["phase"] == "Active"
    await kube.delete(namespace)


async def test_an_object_edgeplane_did_not_make_is_refused_and_untouched(
    kube: KubeClient, ns: str
) -> None:
    await tenant_makes(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    victim = await tenant_makes(kube, {**config_map("victim", namespace=ns), "data": {"a": "1"}})
    forged = {**config_map("victim", annotations={CREATED: "evil"}), "data": {"a": "evil"}}
    outcome = await apply(kube, rendered([config_map("own"), forged], ns, "evil"), ns, "evil")
    assert outcome.error == (
        f"ConfigMap {ns}/victim exists and edgeplane did not create it: rename it, or have "
        "its owner hand it over by labelling it edgeplane.io/assignment=evil"
    )
    assert outcome.applied == ()
    stored = await kube.get(victim)
    assert stored is not None and stored["data"] == {"a": "1"}
    assert ASSIGNMENT_LABEL not in (stored["metadata"].get("labels") or {})
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "own")) is None
    await delete_objects(kube, assignment="evil", namespace=ns)
    assert await kube.get(victim) is not None
    await kube.delete(ObjectRef("v1", "Namespace", None, ns))


async def test_a_cluster_scoped_object_is_deleted_only_when_the_agent_made_it(
    kube: KubeClient, ns: str
) -> None:
    existing = await tenant_makes(kube, cluster_role(f"{ns}-existing"))
    made = ObjectRef.of(cluster_role(f"{ns}-made"))
    try:
        both = rendered([cluster_role(existing.name), cluster_role(made.name)], ns, "roles")
        outcome = await apply(kube, both, ns, "roles")
        assert outcome.error is not None
        assert outcome.error.startswith(f"ClusterRole {existing.name} exists and edgeplane did")
        outcome = await apply(kube, rendered([cluster_role(made.name)], ns, "roles"), ns, "roles")
        assert outcome.error is None and made in outcome.applied
        await delete_objects(kube, assignment="roles", namespace=ns)
        await wait_until_async(
            functools.partial(gone, kube, made),
            "the ClusterRole it made deleted",
            within=60.0,
            every=0.2,
        )
        stored = await kube.get(existing)
        assert stored is not None and ASSIGNMENT_LABEL not in (
            stored["metadata"].get("labels") or {}
        )
    finally:
        await kube.delete(existing)
        await kube.delete(made)


async def test_another_assignments_object_is_refused_and_left_as_it_was(
    kube: KubeClient, ns: str
) -> None:
    one = rendered([{**config_map("settings"), "data": {"a": "1"}}], ns, "one")
    assert (await apply(kube, one, ns, "one")).error is None
    two = rendered([config_map("mine"), {**config_map("settings"), "data": {"a": "2"}}], ns, "two")
    outcome = await apply(kube, two, ns, "two")
    assert outcome.error == (
        f"ConfigMap {ns}/settings belongs to assignment 'one': two applications cannot "
        "apply one object; rename it in one of them"
    )
    assert outcome.applied == ()
    stored = await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings"))
    assert stored is not None and stored["data"] == {"a": "1"}
    assert stored["metadata"]["labels"][ASSIGNMENT_LABEL] == "one"
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "mine")) is None
    assert await kube.get(inventory_ref("two", ns)) is None
    await delete_objects(kube, assignment="two", namespace=ns)  # deletes nothing of one's
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings")) is not None
    await delete_objects(kube, assignment="one", namespace=ns)


def crd(name: str, group: str, kind: str, plural: str) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    version = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": name, "kind": kind},
            "versions": [version],
        },
    }


async def test_a_crd_that_never_becomes_established_ends_the_apply(
    kube: KubeClient, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply_module, "CRD_WAIT_SECONDS", 3.0)
    group = f"{ns}.example.com"
    first, second = (
        crd("widget", group, "Widget", "widgets"),
        crd("thing", group, "Widget", "things"),
    )
    try:
        await kube.apply(first, field_manager="tenant")  # holds the kind Widget
        await wait_until_async(
            lambda: _established(kube, first), "the first CRD established", within=60.0, every=0.2
        )
        objects = render(
            {"manifests": [second, config_map("c")], "namespace": ns, "allowedNamespaces": []},
            Identity(site="s", application="app", assignment="crd", revision=1),
            scopes=SCOPES,
        )
        started = time.monotonic()
        outcome = await apply(kube, objects, ns, "crd")
        assert time.monotonic() - started < 20
        assert outcome.error is not None
        assert outcome.error.startswith(
            f"CustomResourceDefinition things.{group}: not Established within 3 s: "
            "NamesAccepted=False: "
        )
        assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "c")) is None
    finally:
        for each in (first, second):
            await kube.delete(ObjectRef.of(each))
        await delete_objects(kube, assignment="crd", namespace=ns)


async def _established(kube: KubeClient, obj: dict[str, Any]) -> bool:
    stored = await kube.get(ObjectRef.of(obj)) or {}
    conditions = (stored.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


async def test_the_largest_application_applies_without_holding_the_event_loop(
    kube: KubeClient, ns: str
) -> None:
    """256 manifests of 4 KiB (the API's 1 MiB): all applied, and the event loop serves
    other tasks between every two requests of it (counted, not timed: a clock on this
    shared machine says more about its neighbours than about the agent)."""
    manifests = [{**config_map(f"c{i}"), "data": {"v": "x" * 4000}} for i in range(256)]
    objects = rendered(manifests, ns, "big")
    ticks = 0
    at_request: list[int] = []

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def seen(request: object) -> None:
        at_request.append(ticks)

    kube._http.event_hooks["request"].append(seen)
    ticker = asyncio.create_task(tick())
    try:
        outcome = await apply(kube, objects, ns, "big")
    finally:
        ticker.cancel()
        kube._http.event_hooks["request"].remove(seen)
    assert outcome.error is None and len(outcome.applied) == 257
    assert len(at_request) >= 257 * 2  # a dry run and an apply of each
    held = [i for i in range(1, len(at_request)) if at_request[i] == at_request[i - 1]]
    assert not held, f"no other task ran between requests {held[:5]}"
    stored = await kube.get(ObjectRef("v1", "ConfigMap", ns, "c255"))
    assert stored is not None and stored["metadata"]["annotations"][CREATED] == "big"
    await delete_objects(kube, assignment="big", namespace=ns)
    namespace = ObjectRef("v1", "Namespace", None, ns)
    await wait_until_async(
        functools.partial(gone, kube, namespace), "the namespace deleted", within=60.0, every=0.2
    )


async def test_a_namespace_two_applications_are_allowed_goes_with_the_last_of_them(
    kube: KubeClient, ns: str
) -> None:
    """Their inventories are kept in their own namespaces, not in the shared one."""
    shared = f"{ns}-shared"
    namespace = ObjectRef("v1", "Namespace", None, shared)

    def manifests(name: str) -> list[dict[str, Any]]:
        shared_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shared}}
        return [shared_object, config_map(name, namespace=shared)]

    for name in ("a", "b"):
        objects = rendered(manifests(name), f"{ns}-{name}", name, allowed=(shared,))
        assert (await apply(kube, objects, f"{ns}-{name}", name)).error is None
    stored = await kube.get(namespace)
    assert stored is not None and stored["metadata"]["labels"][ASSIGNMENT_LABEL] == "b"
    await delete_objects(kube, assignment="b", namespace=f"{ns}-b")
    b_map = ObjectRef("v1", "ConfigMap", shared, "b")
    await wait_until_async(
        functools.partial(gone, kube, b_map), "b's ConfigMap deleted", within=60.0, every=0.2
    )
    stored = await kube.get(namespace)
    assert stored is not None and stored["status"]["phase"] == "Active"
    assert await kube.get(ObjectRef("v1", "ConfigMap", shared, "a")) is not None
    await delete_objects(kube, assignment="a", namespace=f"{ns}-a")
    for gone_too in (namespace, ObjectRef("v1", "Namespace", None, f"{ns}-a")):
        await wait_until_async(
            functools.partial(gone, kube, gone_too),
            f"{gone_too.label()} deleted",
            within=60.0,
            every=0.2,
        )
