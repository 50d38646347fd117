"""A hostile or broken apiserver against the client: lists whose continue tokens never
end, answers that drip a byte at a time, a label selector built from hostile names.
Each must end in a bounded time with a clear error, over ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from edgeplane.agent.runtimes.kubernetes import client as client_module
from edgeplane.agent.runtimes.kubernetes import health as health_module
from edgeplane.agent.runtimes.kubernetes import logs as logs_module
from edgeplane.agent.runtimes.kubernetes.client import (
    KubeClient,
    KubeError,
    KubeUnreachable,
    ObjectRef,
)
from edgeplane.agent.runtimes.kubernetes.config import KubeConfig
from edgeplane.agent.runtimes.kubernetes.health import read_objects
from edgeplane.agent.runtimes.kubernetes.inventory import read_refs
from edgeplane.agent.runtimes.kubernetes.logs import assignment_logs
from edgeplane.agent.runtimes.kubernetes.pool import KubeSettings, parse_node_pool
from edgeplane.agent.runtimes.kubernetes.render import RenderError, label_value

SERVER = "https://kube.test:6443"
CORE = {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}


def client(handler: httpx.MockTransport, timeout: float = 30.0) -> KubeClient:
    return KubeClient(KubeConfig(SERVER, token="t"), timeout=timeout, transport=handler)


async def test_a_list_whose_pages_are_empty_and_never_end_is_stopped() -> None:
    calls = 0

    def endless(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.path == "/api/v1":
            return httpx.Response(200, json=CORE)
        return httpx.Response(200, json={"items": [], "metadata": {"continue": f"t{calls}"}})

    kube = client(httpx.MockTransport(endless))
    try:
        with pytest.raises(KubeError, match=r"the list of ConfigMap ran past 160 pages") as e:
            await kube.list("v1", "ConfigMap", namespace="shop")
    finally:
        await kube.close()
    assert e.value.status == 502
    assert calls == 1 + client_module.MAX_PAGES


async def _drip() -> AsyncIterator[bytes]:
    yield b'{"gitVersion": '
    await asyncio.Event().wait()  # the server sends nothing more, and never closes


async def test_an_answer_that_never_ends_is_unreachable_within_the_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_drip())

    kube = client(httpx.MockTransport(slow), timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(KubeUnreachable, match=r"GET /version: no whole answer in 0.5 s"):
            await kube.server_version()
    finally:
        await kube.close()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("site", ["x" * 300, "s1." + "y" * 250], ids=["300", "dots"])
def test_a_long_site_name_is_one_hashed_selector_requirement(site: str) -> None:
    selector = KubeSettings(site=site, pool=("edgeplane.io/site", "pool-a")).selector
    value = label_value(site, "site")
    assert selector == f"app.kubernetes.io/managed-by=edgeplane,edgeplane.io/site={value}"
    assert len(value) <= 63 and all(c.isalnum() or c in "-_." for c in value)


@pytest.mark.parametrize(
    "site", ["a,edgeplane.io/assignment!=x", "a b", "s=1", "a)", "a\nb", "in (a,b)"], ids=repr
)
def test_a_site_name_that_would_change_the_selector_is_refused(site: str) -> None:
    with pytest.raises(RenderError, match=r"identity.site .* cannot be a label value"):
        _ = KubeSettings(site=site, pool=("edgeplane.io/site", "pool-a")).selector


@pytest.mark.parametrize("flag", ["a=b,c=d", "a=b=c", "a b=c", "=x", "a="], ids=repr)
def test_a_node_pool_flag_that_would_be_two_requirements_is_refused(flag: str) -> None:
    with pytest.raises(ValueError, match=r"--node-pool"):
        parse_node_pool(flag)


@pytest.mark.parametrize("plural", ["..", "../secrets", "Pods", "pods?x=1", "a" * 64, ""])
async def test_a_discovered_plural_that_is_not_a_path_segment_is_no_kind(plural: str) -> None:
    served = {"resources": [{"name": plural, "kind": "Widget", "namespaced": True}]}
    kube = client(httpx.MockTransport(lambda request: httpx.Response(200, json=served)))
    try:
        with pytest.raises(KubeError, match=r"the cluster has no kind Widget in apiVersion v1"):
            await kube.resource("v1", "Widget")
    finally:
        await kube.close()


async def test_a_pod_with_hundreds_of_containers_costs_a_bounded_number_of_reads() -> None:
    containers = [{"name": f"c{i}"} for i in range(300)]
    pod = {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": containers}}
    reads: list[str] = []

    def cluster(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1":
            pods = {"name": "pods", "kind": "Pod", "namespaced": True}
            return httpx.Response(200, json={"resources": [pods]})
        if path == "/api/v1/namespaces/shop/pods":
            return httpx.Response(200, json={"items": [pod], "metadata": {}})
        reads.append(request.url.params["container"])
        return httpx.Response(200, content=b"line\n")

    kube = client(httpx.MockTransport(cluster))
    try:
        text = await assignment_logs(kube, "shop.s1", ["shop"], 10)
    finally:
        await kube.close()
    assert reads == [f"c{i}" for i in range(logs_module.MAX_READS)]
    assert text.endswith(f"[cut: {300 - logs_module.MAX_READS} more containers not read]\n")
    assert text.startswith("[p/c0] line\n")


def flooded(namespaces: int) -> tuple[httpx.MockTransport, list[ObjectRef]]:
    """A cluster where someone labelled endless ConfigMaps like ours in a namespace of
    their own: the cluster-wide list never ends; each of ours holds one ConfigMap."""
    ours = [ObjectRef("v1", "ConfigMap", f"ns{i}", "settings") for i in range(namespaces)]

    def cluster(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1":
            return httpx.Response(200, json=CORE)
        if path == "/api/v1/configmaps":
            junk = [{"metadata": {"name": f"j{i}", "namespace": "flood"}} for i in range(250)]
            return httpx.Response(200, json={"items": junk, "metadata": {"continue": "more"}})
        namespace = path.split("/")[4]
        item = {"metadata": {"name": "settings", "namespace": namespace}}
        return httpx.Response(200, json={"items": [item], "metadata": {}})

    return httpx.MockTransport(cluster), ours


@pytest.mark.parametrize("namespaces", [1, health_module.PER_NAMESPACE_MAX + 1])
async def test_objects_labelled_like_ours_elsewhere_do_not_hide_ours(namespaces: int) -> None:
    transport, ours = flooded(namespaces)
    kube = client(transport)
    try:
        found, unread = await read_objects(kube, ours, "app.kubernetes.io/managed-by=edgeplane")
    finally:
        await kube.close()
    assert unread == {}
    assert set(found) == set(ours)


@pytest.mark.parametrize("code", [200, 500])
async def test_an_answer_nested_past_the_decoder_is_a_bad_response(code: int) -> None:
    deep = b"[" * 100_000
    kube = client(httpx.MockTransport(lambda request: httpx.Response(code, content=deep)))
    try:
        with pytest.raises(KubeError) as e:
            await kube.server_version()
    finally:
        await kube.close()
    assert e.value.status == (code if code >= 400 else 502)
    assert len(str(e.value)) < 1000


async def test_an_inventory_nested_past_the_decoder_reads_as_empty() -> None:
    inventory = {"metadata": {"name": "edgeplane-inventory-a"}, "data": {"refs": "[" * 100_000}}

    def cluster(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1":
            return httpx.Response(200, json=CORE)
        return httpx.Response(200, json=inventory)

    kube = client(httpx.MockTransport(cluster))
    try:
        assert await read_refs(kube, "a", "shop") == []
    finally:
        await kube.close()
