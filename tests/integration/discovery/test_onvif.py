"""ONVIF discovery (``agent.discovery.onvif``) against a fake camera on 127.0.0.1
(``tests.support.onvifsim``): a unicast probe to its WS-Discovery responder, then
GetDeviceInformation at its device service. What a hostile responder sends is ignored.
The multicast probe is tried in a network namespace of the test's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from edgeplane.agent.discovery import onvif as onvif_module
from edgeplane.agent.discovery.base import Found, Handler
from edgeplane.agent.discovery.onvif import CAMERAS_AT_ONCE, Answer, OnvifHandler, handler
from edgeplane.agent.discovery.wsdiscovery import MULTICAST_V4, PORT, ProbeMatch
from edgeplane.api.discovery import OnvifDiscovery
from tests.support.netns import NetnsUnavailable, private_namespace, run_inside
from tests.support.onvifsim import (
    HOST,
    Camera,
    DeviceService,
    Responder,
    message_id,
    probe_matches,
)
from tests.support.waiting import wait_until_async

WITHIN = 15.0
PROBE_SECONDS = 0.5
CAMERA = Camera()

pytestmark = pytest.mark.timeout(60)


@dataclass
class Site:
    onvif: Handler
    responder: Responder
    service: DeviceService
    xaddr: str


class AlsoAnswering(Responder):
    """A responder that answers each probe for ``others`` (camera, XAddr) too, each in
    a datagram of its own, before its own camera."""

    def __init__(
        self,
        camera: Camera,
        xaddr: str,
        noise: Sequence[bytes] = (),
        answer: bool = True,
        others: Sequence[tuple[Camera, str]] = (),
    ):
        super().__init__(camera, xaddr, noise, answer)
        self.others = others

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        relates_to = message_id(data)
        if relates_to is not None and self.transport is not None:
            for camera, xaddr in self.others:
                self.transport.sendto(probe_matches(camera, xaddr, relates_to), addr)
        super().datagram_received(data, addr)


@asynccontextmanager
async def site(
    camera: Camera = CAMERA,
    noise: Sequence[bytes] = (),
    answer: bool = True,
    host: str = HOST,
    others: Sequence[tuple[Camera, str]] = (),
) -> AsyncIterator[Site]:
    """The camera's two services and a handler probing it; ``host`` is the one its
    XAddrs name. The responder also answers for ``others``, which have no service."""
    service = DeviceService(camera)
    xaddr = f"http://{host}:{await service.start()}/onvif/device_service"
    responder = AlsoAnswering(camera, xaddr, noise, answer, others)
    params = OnvifDiscovery.model_validate(
        {
            "interfaces": [HOST],
            "target": HOST,
            "port": await responder.start(),
            "probeSeconds": PROBE_SECONDS,
        }
    )
    onvif = handler(params)
    try:
        yield Site(onvif, responder, service, xaddr)
    finally:
        await onvif.close()
        responder.close()
        await service.close()


async def found_one(onvif: Handler) -> Found:
    found = await wait_until_async(
        onvif.scan, "one camera", WITHIN, accept=lambda found: len(found) == 1
    )
    return found[0]


async def test_the_camera_is_found_with_its_device_information() -> None:
    async with site() as s:
        camera = await found_one(s.onvif)
        again = await s.onvif.scan()

    assert [f.identity for f in again] == [camera.identity] == [f"onvif:{CAMERA.endpoint}"]
    assert (camera.protocol, camera.address, camera.device_class) == ("onvif", s.xaddr, "camera")
    assert (camera.vendor, camera.model, camera.serial) == ("Acme Optics", "AC-2000", "SN-0042")
    assert camera.attributes == {
        "firmware": "1.2.3",
        "hardwareId": "HW-7",
        "name": "Lobby Cam",
        "location": "building/7",
        "hardware": "AC-2000-scope",
    }
    # Without credentials, and nothing asked before GetDeviceInformation.
    assert {(a.operation, a.secured) for a in s.service.asked} == {("GetDeviceInformation", False)}


async def test_a_camera_that_refuses_is_reported_with_its_scopes() -> None:
    async with site(Camera(refuse=True)) as s:
        camera = await found_one(s.onvif)

    assert (camera.vendor, camera.model, camera.serial) == ("", "AC-2000-scope", "")
    assert camera.attributes == {
        "name": "Lobby Cam",
        "location": "building/7",
        "hardware": "AC-2000-scope",
    }
    assert [a.operation for a in s.service.asked] == ["GetDeviceInformation"]


async def test_an_xaddr_on_another_host_is_not_asked() -> None:
    async with site(host="127.0.0.2") as s:
        camera = await found_one(s.onvif)

    assert camera.address == s.xaddr
    assert (camera.vendor, camera.model) == ("", "AC-2000-scope")
    assert s.service.asked == []


async def test_a_malformed_xaddr_costs_only_its_own_camera() -> None:
    """``http://[bad/`` does not parse; the camera beside it is still described."""
    broken = Camera(endpoint="urn:uuid:broken-xaddr")
    async with site(others=[(broken, "http://[bad/")]) as s:
        camera = await found_one(s.onvif)

    assert (camera.identity, camera.vendor) == (f"onvif:{CAMERA.endpoint}", "Acme Optics")


class FailingService:
    """An ONVIFService whose exchange fails as none of ``INFO_ERRORS`` does."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    async def setup(self) -> None:
        raise EOFError("the camera hung up mid-answer")

    async def close(self) -> None:
        pass


async def test_a_camera_whose_description_fails_otherwise_keeps_its_scopes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(onvif_module, "ONVIFService", FailingService)
    async with site() as s:
        camera = await found_one(s.onvif)

    assert (camera.identity, camera.vendor, camera.model) == (
        f"onvif:{CAMERA.endpoint}",
        "",
        "AC-2000-scope",
    )


def crowd(count: int) -> dict[str, Answer]:
    """``count`` cameras that answered from 127.0.0.1, each at a port of its own."""
    matches = [
        ProbeMatch(f"urn:uuid:cam-{i}", (f"http://{HOST}:{i + 1}/onvif/device_service",))
        for i in range(count)
    ]
    return {m.endpoint: Answer(m, HOST) for m in matches}


def probing(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Answer]) -> None:
    """Every handler's probe hears ``answers``; no datagram is sent."""

    async def probe(self: OnvifHandler) -> dict[str, Answer]:
        return answers

    monkeypatch.setattr(OnvifHandler, "_probe", probe)


def params() -> OnvifDiscovery:
    return OnvifDiscovery.model_validate({"interfaces": [HOST], "target": HOST})


async def test_cameras_asked_at_once_are_bounded_across_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent runs many profiles: together they ask at most CAMERAS_AT_ONCE."""
    asking, peak = 0, 0

    async def device_information(url: str) -> dict[str, str]:
        nonlocal asking, peak
        asking += 1
        peak = max(peak, asking)
        await asyncio.sleep(0.05)
        asking -= 1
        return {"Manufacturer": "Acme Optics"}

    probing(monkeypatch, crowd(CAMERAS_AT_ONCE * 2))
    monkeypatch.setattr(onvif_module, "device_information", device_information)
    scans = await asyncio.gather(handler(params()).scan(), handler(params()).scan())

    assert [len(found) for found in scans] == [CAMERAS_AT_ONCE * 2] * 2
    assert {f.vendor for found in scans for f in found} == {"Acme Optics"}
    assert peak == CAMERAS_AT_ONCE


async def test_cameras_not_described_by_the_deadline_keep_their_scopes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many cameras answered and however slow they are, the describe phase
    ends at DESCRIBE_SECONDS; the rest are reported from their scopes."""
    answers = crowd(4)
    quick = list(answers)[:2]

    async def device_information(url: str) -> dict[str, str]:
        if not any(url == answers[e].match.service_url for e in quick):
            await asyncio.Event().wait()  # never answers
        return {"Manufacturer": "Acme Optics"}

    probing(monkeypatch, answers)
    monkeypatch.setattr(onvif_module, "device_information", device_information)
    monkeypatch.setattr(onvif_module, "DESCRIBE_SECONDS", 0.5)
    async with asyncio.timeout(WITHIN):  # when to give up: without the deadline, never
        found = await handler(params()).scan()

    assert sorted((f.identity, f.vendor) for f in found) == [
        (f"onvif:{e}", "Acme Optics" if e in quick else "") for e in sorted(answers)
    ]


async def test_nothing_is_found_once_the_responder_stops() -> None:
    async with site() as s:
        await found_one(s.onvif)
        s.responder.close()

        assert await s.onvif.scan() == []  # returns: it ends at probeSeconds


HOSTILE = {
    "garbage": b"\x00\xff\xfe not xml at all",
    "huge": b"<a>" + b"x" * 40_000 + b"</a>",
    "doctype": b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">&lol2;</s:Envelope>""",
    "utf-16": "<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16"),
    "another probe's match": probe_matches(
        Camera(endpoint="urn:uuid:someone-else"), "http://127.0.0.1:1/", "urn:uuid:not-ours"
    ),
    "not an envelope": b"<ProbeMatches/>",
}


@pytest.mark.parametrize("answer", [True, False], ids=["then-the-camera", "only-noise"])
async def test_hostile_datagrams_are_ignored(
    answer: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "edgeplane.agent.discovery.onvif")
    async with site(noise=list(HOSTILE.values()), answer=answer) as s:

        async def scan_past_the_noise() -> list[Found] | None:
            found = await s.onvif.scan()
            refused = [r for r in caplog.records if "ignored a datagram" in r.getMessage()]
            return found if len(refused) >= len(HOSTILE) else None

        found = await wait_until_async(
            scan_past_the_noise, "a scan that met all the noise", WITHIN, accept=lambda _: True
        )

    assert [f.identity for f in found] == ([f"onvif:{CAMERA.endpoint}"] if answer else [])


def test_the_multicast_probe_reaches_a_camera_in_the_group() -> None:
    """No ``target``: the probe goes to 239.255.255.250:3702 from 127.0.0.1, so this
    runs in a network namespace of its own (as ``test_mdns`` does)."""
    try:
        with private_namespace("onvif") as namespace:
            found = run_inside(namespace, lambda: asyncio.run(_in_the_group()))
    except NetnsUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a network namespace is required in CI (CI=true): {e}")
        pytest.skip(f"a network namespace is unavailable: {e}")

    assert [(f.identity, f.vendor) for f in found] == [(f"onvif:{CAMERA.endpoint}", "Acme Optics")]


async def _in_the_group() -> list[Found]:
    service = DeviceService(CAMERA)
    responder = Responder(CAMERA, f"http://{HOST}:{await service.start()}/onvif/device_service")
    await responder.join(MULTICAST_V4, PORT)
    onvif = handler(OnvifDiscovery.model_validate({"interfaces": [HOST], "probeSeconds": 0.5}))
    try:
        return [await found_one(onvif)]
    finally:
        responder.close()
        await service.close()
