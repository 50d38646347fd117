"""The agent's Kubernetes client and apply engine against a real control plane
(hack/kube: kine, kube-apiserver, controller manager, scheduler, KWOK nodes).

Each test works in namespaces of its own. Objects are rendered as the runtime renders
them (``render``), so labels and namespaces are the real ones.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import secrets
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeplane.agent.runtimes.kubernetes.apply import (
    MAX_OBJECTS,
    ApplyOutcome,
    applied_refs,
    apply_objects,
    delete_objects,
)
from edgeplane.agent.runtimes.kubernetes.client import (
    KubeClient,
    KubeError,
    KubeUnreachable,
    ObjectRef,
)
from edgeplane.agent.runtimes.kubernetes.config import (
    KubeConfig,
    in_cluster_config,
)
from edgeplane.agent.runtimes.kubernetes.inventory import inventory_ref
from edgeplane.agent.runtimes.kubernetes.render import ASSIGNMENT_LABEL, Identity, render
from hack.kube.cluster import Cluster
from tests.support.waiting import wait_until_async

MANAGER = "edgeplane"
FORCE_HINT = "(set spec.workload.kubernetes.force to take it)"


@pytest.fixture
def ns() -> str:
    return f"a-{secrets.token_hex(4)}"


def deployment(
    name: str = "web", replicas: int = 2, image: str | None = "example.invalid/web:1"
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "ports": [{"containerPort": 8080}]}
    if image is not None:
        container["image"] = image
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "nodeSelector": {"type": "kwok"}},
            },
        },
    }


def service(name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def config_map(name: str = "settings", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


async def rendered(
    kube: KubeClient, manifests: list[dict[str, Any]], ns: str, assignment: str, revision: int = 1
) -> list[dict[str, Any]]:
    """The objects as the runtime renders them, scopes from discovery."""
    scopes: dict[tuple[str, str], bool] = {}
    for m in manifests:
        # A kind a CRD of the set defines, or an unknown one: render decides.
        with contextlib.suppress(KubeError):
            info = await kube.resource(m["apiVersion"], m["kind"])
            scopes[(m["apiVersion"], m["kind"])] = info.namespaced
    workload = {"manifests": manifests, "namespace": ns, "force": False, "allowedNamespaces": []}
    identity = Identity(site="site-0", application="shop", assignment=assignment, revision=revision)
    return render(workload, identity, scopes=scopes)


async def apply(
    kube: KubeClient, objects: list[dict[str, Any]], ns: str, assignment: str, force: bool = False
) -> ApplyOutcome:
    return await apply_objects(
        kube, objects, assignment=assignment, namespace=ns, field_manager=MANAGER, force=force
    )


def refs(*objects: dict[str, Any]) -> set[ObjectRef]:
    return {ObjectRef.of(o) for o in objects}


async def test_discovery_finds_built_ins_and_a_crd_applied_in_the_same_set(
    kube: KubeClient, ns: str
) -> None:
    deployments = await kube.resource("apps/v1", "Deployment")
    assert (deployments.plural, deployments.namespaced) == ("deployments", True)
    assert (await kube.resource("v1", "Namespace")).namespaced is False
    group = f"{ns}.example.com"
    with pytest.raises(KubeError) as unknown:
        await kube.resource(f"{group}/v1", "Widget")  # cached as unknown: found on a miss later
    assert unknown.value.status == 404
    assert unknown.value.message == f"the cluster has no kind Widget in apiVersion {group}/v1"

    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "size": 3}
    try:
        objects = await rendered(kube, [crd(group), widget], ns, "shop.site-0.crd")
        outcome = await apply(kube, objects, ns, "shop.site-0.crd")
        assert outcome.error is None and outcome.conflicts == ()
        assert set(outcome.applied) == refs(*objects)
        info = await kube.resource(f"{group}/v1", "Widget")
        assert (info.plural, info.namespaced) == ("widgets", True)
        stored = await kube.get(ObjectRef(f"{group}/v1", "Widget", ns, "w"))
        assert stored is not None and stored["size"] == 3
    finally:
        await kube.delete(
            ObjectRef(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", None, f"widgets.{group}"
            )
        )
        await delete_objects(kube, assignment="shop.site-0.crd", namespace=ns)


async def test_a_new_revision_prunes_what_it_dropped(kube: KubeClient, ns: str) -> None:
    assignment = "shop.site-0.prune"
    first = await rendered(kube, [deployment(), service(), config_map(a="1")], ns, assignment)
    outcome = await apply(kube, first, ns, assignment)
    assert outcome.error is None and outcome.pruned == ()
    assert set(outcome.applied) == refs(*first)
    assert set(await applied_refs(kube, assignment=assignment, namespace=ns)) == refs(*first)
    inventory = await kube.get(inventory_ref(assignment, ns))
    assert inventory is not None
    assert inventory["metadata"]["name"] == f"edgeplane-inventory-{assignment}"
    assert inventory["metadata"]["labels"] == {
        ASSIGNMENT_LABEL: assignment,
        "app.kubernetes.io/managed-by": "edgeplane",
    }
    web = await kube.get(ObjectRef("apps/v1", "Deployment", ns, "web"))
    assert web is not None

    second = await rendered(kube, [deployment(), service()], ns, assignment, revision=2)
    outcome = await apply(kube, second, ns, assignment)
    assert outcome.error is None
    assert outcome.pruned == (ObjectRef("v1", "ConfigMap", ns, "settings"),)
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings")) is None
    assert set(await applied_refs(kube, assignment=assignment, namespace=ns)) == refs(*second)
    kept = await kube.get(ObjectRef("apps/v1", "Deployment", ns, "web"))
    assert kept is not None and kept["metadata"]["uid"] == web["metadata"]["uid"]
    await delete_objects(kube, assignment=assignment, namespace=ns)


async def test_an_object_another_assignment_took_over_is_not_pruned(
    kube: KubeClient, ns: str
) -> None:
    await apply(kube, await rendered(kube, [config_map(a="1")], ns, "one"), ns, "one")
    # Relabelled by someone else (an apply of another assignment's is refused instead).
    relabel = {**config_map(), "metadata": {"name": "settings", "namespace": ns}}
    relabel["metadata"]["labels"] = {ASSIGNMENT_LABEL: "two"}
    await kube.apply(relabel, field_manager="someone", force=True)
    second = await rendered(kube, [config_map("other")], ns, "one", revision=2)
    outcome = await apply(kube, second, ns, "one")
    assert outcome.error is None and outcome.pruned == ()
    stored = await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings"))
    assert stored is not None and stored["metadata"]["labels"][ASSIGNMENT_LABEL] == "two"
    await delete_objects(kube, assignment="one", namespace=ns)
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings")) is not None
    await kube.delete(ObjectRef("v1", "ConfigMap", ns, "settings"))


async def test_a_conflict_is_reported_and_left_alone_unless_forced(
    kube: KubeClient, ns: str
) -> None:
    assignment = "shop.site-0.conflict"
    first = await rendered(kube, [deployment(replicas=1), config_map(a="1")], ns, assignment)
    assert (await apply(kube, first, ns, assignment)).error is None
    web = ObjectRef("apps/v1", "Deployment", ns, "web")
    scaled = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 3},
    }
    await kube.apply(scaled, field_manager="kubectl-edit", force=True)

    second = await rendered(kube, [deployment(replicas=2), config_map(a="2")], ns, assignment, 2)
    outcome = await apply(kube, second, ns, assignment)
    assert outcome.error is None
    assert outcome.conflicts == (
        f"Deployment {ns}/web: .spec.replicas is owned by kubectl-edit {FORCE_HINT}",
    )
    assert web not in outcome.applied
    assert ObjectRef("v1", "ConfigMap", ns, "settings") in outcome.applied
    stored = await kube.get(web)
    assert stored is not None and stored["spec"]["replicas"] == 3
    settings = await kube.get(ObjectRef("v1", "ConfigMap", ns, "settings"))
    assert settings is not None and settings["data"] == {"a": "2"}

    outcome = await apply(kube, second, ns, assignment, force=True)
    assert outcome.error is None and outcome.conflicts == () and web in outcome.applied
    stored = await kube.get(web)
    assert stored is not None and stored["spec"]["replicas"] == 2
    await delete_objects(kube, assignment=assignment, namespace=ns)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            deployment("bad", image=None),
            'Deployment {ns}/bad: Deployment.apps "bad" is invalid: '
            "spec.template.spec.containers[0].image: Required value",
        ),
        (
            {"apiVersion": "nothing.example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}},
            "Gizmo {ns}/g: the cluster has no kind Gizmo in apiVersion nothing.example.com/v1",
        ),
    ],
    ids=["invalid-field", "unknown-kind"],
)
async def test_a_refused_manifest_applies_nothing_of_the_set(
    kube: KubeClient, ns: str, bad: dict[str, Any], message: str
) -> None:
    assignment = "shop.site-0.bad"
    objects = await rendered(
        kube, [config_map(a="1"), deployment(), copy.deepcopy(bad)], ns, assignment
    )
    outcome = await apply(kube, objects, ns, assignment)
    assert outcome.error == message.format(ns=ns)
    assert outcome.applied == () and outcome.pruned == () and outcome.conflicts == ()
    for ref in refs(*objects):
        assert ref.kind == "Namespace" or await kube.get(ref) is None, ref
    namespace = ObjectRef("v1", "Namespace", None, ns)
    await wait_until_async(
        functools.partial(_gone, kube, namespace),
        f"namespace {ns} rolled back",
        within=60.0,
        every=0.2,
    )


async def test_too_many_objects_are_refused_before_anything_is_sent(
    kube: KubeClient, ns: str
) -> None:
    objects = [config_map(f"c{i}") for i in range(MAX_OBJECTS + 1)]
    for obj in objects:
        obj["metadata"]["namespace"] = ns
    outcome = await apply(kube, objects, ns, "shop.site-0.many")
    assert outcome.error == (
        f"{MAX_OBJECTS + 1} objects: at most {MAX_OBJECTS} are applied at once "
        "(256 manifests and their namespace); split the application"
    )
    assert await kube.get(ObjectRef("v1", "Namespace", None, ns)) is None


async def test_applying_the_same_set_again_changes_nothing(kube: KubeClient, ns: str) -> None:
    assignment = "shop.site-0.noop"
    objects = await rendered(kube, [deployment(), service(), config_map(a="1")], ns, assignment)
    assert (await apply(kube, objects, ns, assignment)).error is None

    async def settled() -> dict[str, str] | None:
        """The versions once every controller is done: the Deployment and its
        ReplicaSet report 2 ready and available, both pods Ready."""
        web = await kube.get(ObjectRef("apps/v1", "Deployment", ns, "web"))
        replica_sets = await kube.list("apps/v1", "ReplicaSet", namespace=ns)
        if not web or not _done(web) or len(replica_sets) != 1 or not _done(replica_sets[0]):
            return None
        pods = await kube.list("v1", "Pod", namespace=ns)
        if len(pods) != 2 or not all(_pod_ready(p) for p in pods):
            return None
        return await _versions(kube, ns)

    before = await wait_until_async(
        settled, "web ready with 2 running pods", within=60.0, every=0.2
    )
    outcome = await apply(kube, copy.deepcopy(objects), ns, assignment)
    assert outcome.error is None and outcome.pruned == () and outcome.conflicts == ()
    assert set(outcome.applied) == refs(*objects)
    assert await _versions(kube, ns) == before
    await delete_objects(kube, assignment=assignment, namespace=ns)


async def test_delete_objects_removes_everything_and_the_inventory(
    kube: KubeClient, ns: str
) -> None:
    assignment = "shop.site-0.delete"
    objects = await rendered(kube, [deployment(), service(), config_map(a="1")], ns, assignment)
    assert (await apply(kube, objects, ns, assignment)).error is None
    await delete_objects(kube, assignment=assignment, namespace=ns)
    for ref in [*refs(*objects), inventory_ref(assignment, ns)]:
        await wait_until_async(
            functools.partial(_gone, kube, ref), f"{ref.label()} deleted", within=60.0, every=0.2
        )
    assert await applied_refs(kube, assignment=assignment, namespace=ns) == []
    await delete_objects(kube, assignment=assignment, namespace=ns)  # again: nothing to do


async def test_a_namespace_another_assignment_uses_is_kept(kube: KubeClient, ns: str) -> None:
    one = await rendered(kube, [config_map("one")], ns, "one")
    two = await rendered(kube, [config_map("two")], ns, "two")
    assert (await apply(kube, one, ns, "one")).error is None
    assert (await apply(kube, two, ns, "two")).error is None  # the Namespace now reads "two"
    await delete_objects(kube, assignment="two", namespace=ns)
    namespace = await kube.get(ObjectRef("v1", "Namespace", None, ns))
    assert namespace is not None and namespace["status"]["phase"] == "Active"
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "one")) is not None
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "two")) is None
    assert await kube.get(inventory_ref("two", ns)) is None
    await delete_objects(kube, assignment="one", namespace=ns)
    assert await kube.get(ObjectRef("v1", "ConfigMap", ns, "one")) is None
    await kube.delete(ObjectRef("v1", "Namespace", None, ns))


async def test_client_certificates_and_a_rotated_token_file_authenticate(
    cluster: Cluster, tmp_path: Path
) -> None:
    pki = cluster.workdir / "pki"
    cert, key = _client_certificate(pki, "edgeplane-agent", "system:masters")
    ca = (pki / "ca.crt").read_bytes()
    by_certificate = KubeConfig(cluster.server, ca_pem=ca, client_cert_pem=cert, client_key_pem=key)
    token_file = tmp_path / "token"
    token_file.write_text("not-the-token\n")
    by_token_file = KubeConfig(cluster.server, ca_pem=ca, token_file=token_file)
    in_cluster = tmp_path / "serviceaccount"
    in_cluster.mkdir()
    (in_cluster / "ca.crt").write_bytes(ca)
    (in_cluster / "token").write_text(cluster.token)
    environ = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(cluster.ports["apiserver"]),
    }
    for config in (by_certificate, in_cluster_config(environ, in_cluster)):
        client = KubeClient(config)
        try:
            assert await client.server_version() == "v1.37.2"
            assert len(await client.list("v1", "Node")) == 3
        finally:
            await client.close()
    client = KubeClient(by_token_file)
    try:
        with pytest.raises(KubeError) as refused:
            await client.server_version()
        assert (refused.value.status, refused.value.reason) == (401, "Unauthorized")
        token_file.write_text(cluster.token + "\n")  # as the kubelet rotates it
        assert await client.server_version() == "v1.37.2"
    finally:
        await client.close()


async def test_an_unverified_server_is_unreachable(cluster: Cluster) -> None:
    client = KubeClient(KubeConfig(cluster.server, token=cluster.token))  # system trust only
    try:
        with pytest.raises(KubeUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await client.server_version()
    finally:
        await client.close()


def _client_certificate(pki: Path, user: str, group: str) -> tuple[bytes, bytes]:
    """A client certificate the cluster's CA signs (the apiserver trusts that CA)."""
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, user),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, group),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def _done(workload: dict[str, Any]) -> bool:
    status = workload.get("status") or {}
    counts = [status.get(k) for k in ("replicas", "readyReplicas", "availableReplicas")]
    observed = status.get("observedGeneration") == workload["metadata"]["generation"]
    return observed and counts == [2, 2, 2]


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def _gone(kube: KubeClient, ref: ObjectRef) -> bool:
    return await kube.get(ref) is None


async def _versions(kube: KubeClient, ns: str) -> dict[str, str]:
    """resourceVersion of every object in the namespace, and of the namespace itself."""
    versions: dict[str, str] = {}
    namespace = await kube.get(ObjectRef("v1", "Namespace", None, ns))
    assert namespace is not None
    versions[f"Namespace {ns}"] = namespace["metadata"]["resourceVersion"]
    for api_version, kind in (
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
    ):
        for obj in await kube.list(api_version, kind, namespace=ns):
            versions[f"{kind} {obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return versions
