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
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.mdns import MdnsHandler, handler
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
