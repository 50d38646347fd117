"""Edge cases of the Kubernetes client a real apiserver does not readily produce
(oversized answers, thousands of list pages, dropped connections), over
``httpx.MockTransport``. What the client does against a real apiserver is proven in
tests/k8s/test_client_apply.py."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeplane.agent.runtimes.kubernetes import client as client_module
from edgeplane.agent.runtimes.kubernetes.auth import ssl_context
from edgeplane.agent.runtimes.kubernetes.client import (
    KubeClient,
    KubeError,
    KubeUnreachable,
    ObjectRef,
)
from edgeplane.agent.runtimes.kubernetes.config import KubeConfig, KubeConfigError

Handler = Callable[[httpx.Request], httpx.Response]
SERVER = "https://kube.test:6443"
CORE = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "pods", "kind": "Pod", "namespaced": True},
        {"name": "pods/log", "kind": "Pod", "namespaced": True},
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
    ],
}


class Recorder:
    """A fake apiserver: answers by (method, path), and records every request."""

    def __init__(self, routes: dict[tuple[str, str], Handler | Any]) -> None:
        self.routes, self.requests = routes, list[httpx.Request]()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return status(404, "NotFound", f"{request.url.path} not found")
        return route(request) if callable(route) else httpx.Response(200, json=route)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def status(code: int, reason: str, message: str, **details: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "message": message,
    }
    if details:
        body["details"] = details
    return httpx.Response(code, json=body)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., KubeClient]]:
    clients: list[KubeClient] = []

    def build(routes: Recorder | Handler, config: KubeConfig | None = None) -> KubeClient:
        transport = httpx.MockTransport(routes)
        clients.append(KubeClient(config or KubeConfig(SERVER, token="t"), transport=transport))
        return clients[-1]

    yield build
    for each in clients:
        await each.close()


async def test_discovery_is_cached_and_refreshed_once_on_a_miss(
    make: Callable[..., KubeClient],
) -> None:
    fake = Recorder({("GET", "/api/v1"): CORE})
    kube = make(fake)
    pod = await kube.resource("v1", "Pod")
    assert (pod.plural, pod.namespaced) == ("pods", True)  # not pods/log
    assert (await kube.resource("v1", "Namespace")).namespaced is False
    assert fake.paths() == ["/api/v1"]
    with pytest.raises(KubeError) as unknown:
        await kube.resource("v1", "Widget")
    assert fake.paths() == ["/api/v1", "/api/v1"]  # one refresh, then the refusal
    assert (unknown.value.status, unknown.value.reason) == (404, "NotFound")
    assert unknown.value.message == "the cluster has no kind Widget in apiVersion v1"


@pytest.mark.parametrize(
    "api_version", ["v2", "Apps/v1", "apps/v1/x", "../v1", "apps/", ""], ids=repr
)
async def test_an_api_version_no_cluster_serves_is_unknown_without_a_request(
    make: Callable[..., KubeClient], api_version: str
) -> None:
    fake = Recorder({})
    with pytest.raises(KubeError, match="the cluster has no kind Pod in apiVersion"):
        await make(fake).resource(api_version, "Pod")
    assert fake.requests == []


async def test_server_side_apply_sends_the_object_as_apply_patch(
    make: Callable[..., KubeClient],
) -> None:
    stored = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    fake = Recorder(
        {("GET", "/api/v1"): CORE, ("PATCH", "/api/v1/namespaces/shop/configmaps/c"): stored}
    )
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}
    kube = make(fake)
    assert await kube.apply(obj, field_manager="edgeplane", force=True, dry_run=True) == stored
    await kube.apply(obj, field_manager="edgeplane")
    forced, plain = fake.requests[1:]
    assert forced.headers["Content-Type"] == "application/apply-patch+yaml"
    assert forced.headers["Authorization"] == "Bearer t"
    assert json.loads(forced.content) == obj
    assert dict(forced.url.params) == {
        "fieldManager": "edgeplane",
        "force": "true",
        "dryRun": "All",
    }
    assert dict(plain.url.params) == {"fieldManager": "edgeplane"}


async def test_a_status_refusal_keeps_the_apiservers_words(make: Callable[..., KubeClient]) -> None:
    conflict = status(
        409,
        "Conflict",
        'Apply failed with 1 conflict: conflict with "kubectl-edit": .spec.replicas',
        causes=[{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-edit"',
                 "field": ".spec.replicas"}],
    )  # fmt: skip
    fake = Recorder(
        {("GET", "/api/v1"): CORE, ("PATCH", "/api/v1/namespaces/a/pods/p"): lambda _: conflict}
    )
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}
    with pytest.raises(KubeError) as refused:
        await make(fake).apply(obj, field_manager="edgeplane")
    e = refused.value
    assert (e.status, e.reason) == (409, "Conflict")
    assert e.message == 'Apply failed with 1 conflict: conflict with "kubectl-edit": .spec.replicas'
    assert e.causes == (('conflict with "kubectl-edit"', ".spec.replicas"),)


async def test_an_error_without_a_status_body_keeps_its_text(
    make: Callable[..., KubeClient],
) -> None:
    fake = Recorder({("GET", "/version"): lambda _: httpx.Response(503, text="upstream down\n")})
    with pytest.raises(KubeError) as refused:
        await make(fake).server_version()
    assert (refused.value.status, refused.value.reason, refused.value.message) == (
        503,
        "Service Unavailable",
        "upstream down",
    )


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")],
    ids=["refused", "timeout", "cut"],
)
async def test_transport_failures_are_unreachable(
    make: Callable[..., KubeClient], failure: Exception
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(KubeUnreachable) as unreachable:
        await make(fail).server_version()
    assert unreachable.value.status == 0
    assert unreachable.value.message.startswith(f"{SERVER}: GET /version: ")


async def test_an_answer_over_the_bound_is_refused(
    make: Callable[..., KubeClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY_BYTES", 1024)
    fake = Recorder({("GET", "/version"): {"gitVersion": "v1.37.2", "padding": "x" * 2000}})
    with pytest.raises(KubeError, match=r"the answer to GET /version is over 1024 bytes"):
        await make(fake).server_version()


async def test_a_list_follows_continue_tokens_and_names_its_items(
    make: Callable[..., KubeClient],
) -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("continue")
        number = int(token) if token else 0
        items = [{"metadata": {"name": f"c{number}-{i}"}} for i in range(2)]
        metadata = {"continue": str(number + 1)} if number < 2 else {}
        return httpx.Response(200, json={"items": items, "metadata": metadata})

    fake = Recorder(
        {("GET", "/api/v1"): CORE, ("GET", "/api/v1/namespaces/shop/configmaps"): pages}
    )
    items = await make(fake).list("v1", "ConfigMap", namespace="shop", label_selector="a=b")
    assert [i["metadata"]["name"] for i in items] == [
        f"c{p}-{i}" for p in range(3) for i in range(2)
    ]
    assert all(i["apiVersion"] == "v1" and i["kind"] == "ConfigMap" for i in items)
    lists = [dict(r.url.params) for r in fake.requests[1:]]
    assert lists[0] == {"limit": "250", "labelSelector": "a=b"}
    assert lists[2] == {"limit": "250", "labelSelector": "a=b", "continue": "2"}


async def test_a_list_past_the_bound_names_the_kind(
    make: Callable[..., KubeClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_LIST_ITEMS", 3)

    def endless(request: httpx.Request) -> httpx.Response:
        items = [{"metadata": {"name": "p"}}] * 2
        return httpx.Response(200, json={"items": items, "metadata": {"continue": "more"}})

    fake = Recorder({("GET", "/api/v1"): CORE, ("GET", "/api/v1/pods"): endless})
    with pytest.raises(KubeError) as refused:
        await make(fake).list("v1", "Pod")
    assert refused.value.message.startswith("more than 3 Pod objects: the agent reads at most 3")
    assert len(fake.requests) == 3  # discovery, two pages


async def test_get_and_delete_of_what_is_gone(make: Callable[..., KubeClient]) -> None:
    fake = Recorder({("GET", "/api/v1"): CORE})
    kube = make(fake)
    gone = ObjectRef("v1", "ConfigMap", "shop", "c")
    assert await kube.get(gone) is None
    assert await kube.delete(gone) is False
    assert await kube.get(ObjectRef("example.com/v1", "Widget", "shop", "w")) is None
    assert await kube.delete(ObjectRef("example.com/v1", "Widget", "shop", "w")) is False


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (ObjectRef("v1", "ConfigMap", None, "c"), "ConfigMap c: metadata.namespace is required"),
        (ObjectRef("v1", "ConfigMap", "Shop", "c"), "namespace 'Shop' is not a DNS-1123 label"),
        (ObjectRef("v1", "ConfigMap", "shop", "a/b"), "metadata.name is not a valid name"),
        (ObjectRef("v1", "ConfigMap", "shop", ".."), "metadata.name is not a valid name"),
    ],
    ids=["no-namespace", "bad-namespace", "slash", "dot-dot"],
)
async def test_names_that_would_change_the_path_are_refused_unsent(
    make: Callable[..., KubeClient], ref: ObjectRef, message: str
) -> None:
    fake = Recorder({("GET", "/api/v1"): CORE})
    with pytest.raises(KubeError, match=message):
        await make(fake).get(ref)
    assert fake.paths() == ["/api/v1"]


async def test_pod_logs_are_bounded(make: Callable[..., KubeClient]) -> None:
    fake = Recorder(
        {
            ("GET", "/api/v1/namespaces/shop/pods/web-1/log"): lambda _: httpx.Response(
                200, text="a\nb\n"
            )
        }
    )
    assert await make(fake).pod_logs("shop", "web-1", container="web", tail_lines=10**9) == "a\nb\n"
    params = dict(fake.requests[0].url.params)
    assert params == {"tailLines": "10000", "limitBytes": str(1024 * 1024), "container": "web"}


async def test_a_token_file_is_read_again_when_it_changes(
    make: Callable[..., KubeClient], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    fake = Recorder({("GET", "/version"): {"gitVersion": "v1.37.2"}})
    kube = make(fake, KubeConfig(SERVER, token="ignored", token_file=token))
    await kube.server_version()
    token.write_text("second-token\n")
    await kube.server_version()
    token.unlink()  # mid-rotation: the last token read is kept
    await kube.server_version()
    assert [r.headers["Authorization"] for r in fake.requests] == [
        "Bearer first",
        "Bearer second-token",
        "Bearer second-token",
    ]


def test_a_client_certificate_is_loaded_and_its_files_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cert, key = _self_signed()
    context = ssl_context(KubeConfig(SERVER, ca_pem=cert, client_cert_pem=cert, client_key_pem=key))
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "edgeplane-test"),),)
    assert os.listdir(tmp_path) == []
    with pytest.raises(KubeConfigError, match="client-certificate / client-key"):
        ssl_context(KubeConfig(SERVER, client_cert_pem=cert, client_key_pem=b"not a key"))
    assert os.listdir(tmp_path) == []
    with pytest.raises(KubeConfigError, match="certificate-authority: not a PEM certificate"):
        ssl_context(KubeConfig(SERVER, ca_pem=b"junk"))


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgeplane-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key
