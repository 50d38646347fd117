"""mDNS discovery (``agent.discovery.mdns``) against services a zeroconf of the test
registers, both bound to 127.0.0.1.

Each test runs in a network namespace of its own (``tests.support.netns``): zeroconf
binds 0.0.0.0:5353 and multicasts, which must reach neither the host's network nor
another test's zeroconf. Multicast works on the namespace's ``lo``, so no veth pair is
needed; the test's event loop runs in a thread inside the namespace, and so do all
its sockets.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from zeroconf import Zeroconf, const
from zeroconf._dns import DNSPointer  # building a hostile answer: zeroconf's own records
from zeroconf._protocol.outgoing import DNSOutgoing
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from edgeplane.agent.discovery import mdns as mdns_module
from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.mdns import RESOLVES_PER_SCAN, MdnsHandler, handler
from edgeplane.api.discovery import MdnsDiscovery
from tests.support.netns import NetnsUnavailable, private_namespace, run_inside
from tests.support.waiting import wait_until_async

HOST = "127.0.0.1"
TEST_TYPE = "_edgetest._tcp.local."
OTHER_TYPE = "_edgeother._tcp.local."
WITHIN = 20.0

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def namespace() -> Iterator[str]:
    try:
        with private_namespace("mdns") as name:
            yield name
    except NetnsUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a network namespace is required in CI (CI=true): {e}")
        pytest.skip(f"a network namespace is unavailable: {e}")


def inside(namespace: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    run_inside(namespace, lambda: asyncio.run(scenario()))


def service(instance: str, service_type: str, port: int, txt: dict[str, str]) -> AsyncServiceInfo:
    return AsyncServiceInfo(
        service_type,
        f"{instance}.{service_type}",
        addresses=[socket.inet_aton(HOST)],
        port=port,
        properties=txt,
        server="edgetest-host.local.",
    )


@asynccontextmanager
async def registering(*services: AsyncServiceInfo) -> AsyncIterator[AsyncZeroconf]:
    zeroconf = AsyncZeroconf(interfaces=[HOST])
    try:
        for info in services:
            await zeroconf.async_register_service(info)
        yield zeroconf
    finally:
        await zeroconf.async_close()


@asynccontextmanager
async def browsing(*service_types: str) -> AsyncIterator[MdnsHandler]:
    params = MdnsDiscovery.model_validate(
        {"serviceTypes": list(service_types), "interfaces": [HOST]}
    )
    mdns = handler(params)
    assert isinstance(mdns, MdnsHandler)
    try:
        yield mdns
    finally:
        await mdns.close()


def identities(found: list[Found]) -> list[str]:
    return sorted(f.identity for f in found)


def test_a_registered_service_is_found_once_then_gone(namespace: str) -> None:
    sensor = service(
        "Lobby sensor",
        TEST_TYPE,
        8080,
        {"vendor": "Acme", "MD": "T-1", "class": "sensor", "sn": "42", "room": "lobby"},
    )

    async def scenario() -> None:
        async with registering(sensor) as registrar, browsing(TEST_TYPE) as mdns:
            found = await wait_until_async(mdns.scan, "the service found", WITHIN)
            again = await mdns.scan()
            assert identities(found) == identities(again) == [f"mdns:Lobby sensor.{TEST_TYPE}"]
            (device,) = again
            assert (device.protocol, device.address, device.device_class) == (
                "mdns",
                f"{HOST}:8080",
                "sensor",
            )
            assert (device.vendor, device.model, device.serial) == ("Acme", "T-1", "42")
            assert device.attributes["room"] == "lobby"
            assert device.attributes["serviceType"] == TEST_TYPE

            await registrar.async_unregister_service(sensor)
            await wait_until_async(
                mdns.scan, "the service gone", WITHIN, accept=lambda found: found == []
            )

    inside(namespace, scenario)


def test_a_type_not_asked_for_is_not_found(namespace: str) -> None:
    asked = service("Gauge", TEST_TYPE, 8081, {"scheme": "http", "path": "status"})
    other = service("Printer", OTHER_TYPE, 8082, {"vendor": "Other"})

    async def scenario() -> None:
        async with registering(asked, other), browsing(TEST_TYPE) as mdns:
            async with browsing(OTHER_TYPE) as control:
                await wait_until_async(control.scan, "the other service, when asked", WITHIN)
            found = await wait_until_async(mdns.scan, "the asked-for service", WITHIN)
            assert identities(found) == [f"mdns:Gauge.{TEST_TYPE}"]
            assert found[0].address == f"http://{HOST}:8081/status"
            assert found[0].device_class == "service"

    inside(namespace, scenario)


GHOSTS = 100


def announce_names_only(registrar: AsyncZeroconf, names: list[str]) -> None:
    """PTR records for ``names`` and nothing behind them: no SRV, TXT or address, so
    they are browsed and never resolve."""
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    for name in names:
        pointer = DNSPointer(TEST_TYPE, const._TYPE_PTR, const._CLASS_IN, 4500, name)
        out.add_answer_at_time(pointer, 0)
    registrar.zeroconf.async_send(out)


def test_names_that_never_resolve_do_not_hold_a_scan_up(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host announcing many names that never resolve: each scan asks the network for
    at most RESOLVES_PER_SCAN of them, still reports what resolved, and over a few
    scans every name is tried. The service is asked each time (the handler is told
    it is not in zeroconf's cache), ahead of the newer names that never resolved."""
    sensor = service("Lobby sensor", TEST_TYPE, 8080, {"vendor": "Acme"})
    ghosts = [f"Ghost {i}.{TEST_TYPE}" for i in range(GHOSTS)]
    asked: list[str] = []

    class Counted(AsyncServiceInfo):
        def load_from_cache(self, zc: Zeroconf, now: float | None = None) -> bool:
            return self.name != sensor.name and super().load_from_cache(zc, now)

        async def async_request(self, *args: Any, **kwargs: Any) -> bool:
            asked.append(self.name)
            return await super().async_request(*args, **kwargs)

    monkeypatch.setattr(mdns_module, "AsyncServiceInfo", Counted)
    monkeypatch.setattr(mdns_module, "RESOLVE_MS", 200)  # what a ghost costs, shortened

    async def scenario() -> None:
        async with registering(sensor) as registrar, browsing(TEST_TYPE) as mdns:
            await wait_until_async(mdns.scan, "the service found", WITHIN)
            announce_names_only(registrar, ghosts)
            await wait_until_async(lambda: len(mdns.known) == GHOSTS + 1, "the ghosts", WITHIN)
            tried: set[str] = set()
            for _ in range(math.ceil(GHOSTS / RESOLVES_PER_SCAN)):
                asked.clear()
                found = await mdns.scan()
                assert identities(found) == [f"mdns:Lobby sensor.{TEST_TYPE}"]
                assert len(asked) <= RESOLVES_PER_SCAN
                tried.update(asked)
            assert tried >= set(ghosts)

    inside(namespace, scenario)
