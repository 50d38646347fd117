"""ONVIF cameras: a WS-Discovery probe from each interface a profile names, then
GetDeviceInformation at each camera that answered.

A scan opens one UDP socket per interface, bound to its address, sends one Probe
(``wsdiscovery``) to the profile's ``target`` or the multicast group, and reads the
answers for ``probeSeconds``; answers that do not relate to that probe, or that
``wsdiscovery`` refuses, are ignored. Each camera is then asked GetDeviceInformation
(onvif-zeep-async) at its first HTTP XAddr, within ``INFO_SECONDS`` each and
``CAMERAS_AT_ONCE`` at a time across every handler of the process; the whole of it
within ``DESCRIBE_SECONDS``, so a scan takes at most ``probeSeconds`` +
``DESCRIBE_SECONDS``. A camera not described by then, or whose description failed in
any way, is reported from its scopes alone. Nothing is held between scans.

Credentials: none yet (issue 19 brings secrets). GetDeviceInformation is asked without
WS-Security; a camera that refuses it (most do unless anonymous access is on) is still
reported with what its scopes said (``hardware`` as the model, ``name``, ``location``).
It is asked only at the address the answer came from, so a datagram cannot point the
agent at another host. IPv6 interfaces probe only a ``target``: the IPv6 multicast group
needs an interface index, which an address does not give.

Found: identity ``onvif:<endpoint reference>``, address the XAddr, class ``camera``.
Neighbours: ``wsdiscovery`` (the wire format), ``base``, ``api.discovery``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import onvif
import zeep.exceptions
from onvif.client import ONVIFService
from onvif.definition import SERVICES
from onvif.exceptions import ONVIFError

from edgeplane.agent.discovery.base import (
    ATTRIBUTES_MAX,
    FOUND_PER_SCAN_MAX,
    IDENTITY_MAX_CHARS,
    Found,
    Handler,
    ProcessSlots,
    clip,
)
from edgeplane.agent.discovery.wsdiscovery import (
    DATAGRAM_MAX_BYTES,
    MULTICAST_V4,
    ProbeMatch,
    Refused,
    new_message_id,
    onvif_scopes,
    probe,
    probe_matches,
)
from edgeplane.api.discovery import ONVIF_DESCRIBE_SECONDS

if TYPE_CHECKING:
    from edgeplane.api.discovery import OnvifDiscovery

log = logging.getLogger("edgeplane.agent.discovery.onvif")
INFO_SECONDS = 5.0
CAMERAS_AT_ONCE = 8
"""Cameras asked at once by the whole process: every profile's scans share them."""
DESCRIBE_SECONDS = float(ONVIF_DESCRIBE_SECONDS)
"""Describing every camera of one scan; past it the rest are reported from their
scopes. A scan takes at most ``probeSeconds`` + this (the API checks it against the
profile's interval)."""
MULTICAST_TTL = 1
"""WS-Discovery is link-local: a probe never crosses a router."""
DEVICE_WSDL = Path(onvif.__file__).parent / "wsdl" / SERVICES["devicemgmt"]["wsdl"]
DEVICE_BINDING = "{{{ns}}}{binding}".format(**SERVICES["devicemgmt"])
INFO_FIELDS = ("Manufacturer", "Model", "SerialNumber", "FirmwareVersion", "HardwareId")
# What a camera's HTTP answer may fail with: refused, not SOAP, a fault, a timeout.
INFO_ERRORS = (ONVIFError, zeep.exceptions.Error, aiohttp.ClientError, OSError, ValueError)


@dataclass(frozen=True)
class Answer:
    match: ProbeMatch
    sender: str
    """The address the datagram came from."""


def handler(params: OnvifDiscovery) -> Handler:
    return OnvifHandler(params)


class OnvifHandler:
    def __init__(self, params: OnvifDiscovery) -> None:
        self.params = params

    async def scan(self) -> list[Found]:
        answers = await self._probe()
        cameras = {e: (a, url) for e, a in answers.items() if (url := _url(a)) is not None}
        infos: dict[str, dict[str, str]] = {}
        try:
            async with asyncio.timeout(DESCRIBE_SECONDS), asyncio.TaskGroup() as group:
                for endpoint, (answer, url) in cameras.items():
                    if _same_host(url, answer.sender):
                        group.create_task(_describe(endpoint, url, infos))
        except TimeoutError:
            log.debug("onvif: %d of %d cameras described in time", len(infos), len(cameras))
        return [found(a.match, url, infos.get(e, {})) for e, (a, url) in cameras.items()]

    async def close(self) -> None:
        """Nothing to stop: every scan closes its sockets and sessions."""

    async def _probe(self) -> dict[str, Answer]:
        """The answers from all interfaces, by endpoint reference, for ``probeSeconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.params.probe_seconds)
        answers: dict[str, Answer] = {}
        async with asyncio.TaskGroup() as group:
            for interface in self.params.interfaces:
                group.create_task(self._probe_from(interface, deadline, answers))
        return answers

    async def _probe_from(
        self, interface: str, deadline: float, answers: dict[str, Answer]
    ) -> None:
        target = self.params.target or MULTICAST_V4
        if ipaddress.ip_address(interface).version != ipaddress.ip_address(target).version:
            log.debug("onvif: no probe from %s to %s (another IP version)", interface, target)
            return
        loop = asyncio.get_running_loop()
        message_id = new_message_id()
        try:
            with _socket(interface, multicast=self.params.target is None) as sock:
                await loop.sock_sendto(sock, probe(message_id), (target, self.params.port))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await _receive(sock, message_id, answers)
        except OSError as e:  # an interface that went away or has no route: the others go on
            log.warning("onvif: probe from %s to %s failed: %s", interface, target, e)


camera_slots = ProcessSlots(CAMERAS_AT_ONCE)
"""The process's ``CAMERAS_AT_ONCE``, shared by every handler (``base.ProcessSlots``)."""


def _url(answer: Answer) -> str | None:
    url = answer.match.service_url
    if url is None:  # no HTTP XAddr: nothing an application could reach
        log.debug("onvif: %s gave no HTTP XAddr", answer.match.endpoint[:80])
    return url


async def _describe(endpoint: str, url: str, infos: dict[str, dict[str, str]]) -> None:
    """GetDeviceInformation into ``infos``. Whatever fails here fails this camera
    alone (reported from its scopes); cancellation goes through."""
    try:
        async with camera_slots():
            infos[endpoint] = await device_information(url)
    except Exception:
        log.debug("onvif: %s not described", url[:120], exc_info=True)


async def _receive(sock: socket.socket, message_id: str, answers: dict[str, Answer]) -> None:
    """Read answers into ``answers`` until cancelled or it holds the most one scan may."""
    loop = asyncio.get_running_loop()
    while len(answers) < FOUND_PER_SCAN_MAX:
        try:
            # One byte more than allowed, so an oversized datagram is seen as one.
            datagram, sender = await loop.sock_recvfrom(sock, DATAGRAM_MAX_BYTES + 1)
        except ConnectionRefusedError:  # an ICMP port unreachable for our probe
            continue
        try:
            matches = probe_matches(datagram, message_id)
        except Refused as e:
            log.debug("onvif: ignored a datagram from %s: %s", sender[0], e)
            continue
        for match in matches:
            if len(answers) < FOUND_PER_SCAN_MAX:
                answers.setdefault(match.endpoint, Answer(match, str(sender[0])))


def _socket(interface: str, multicast: bool) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(interface).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((interface, 0))
        if multicast:
            # Leave by the interface named, not by the routing table's choice.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
    except OSError:
        sock.close()
        raise
    return sock


def _same_host(url: str, sender: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
        return ipaddress.ip_address(host) == ipaddress.ip_address(sender.partition("%")[0])
    except ValueError:  # a host name, or a malformed URL: not asked
        return False


async def device_information(url: str) -> dict[str, str]:
    """GetDeviceInformation at ``url`` without credentials, its fields clipped; empty
    when the camera refuses, fails or takes longer than ``INFO_SECONDS``."""
    service: Any = ONVIFService(
        url, None, None, str(DEVICE_WSDL), no_cache=True, binding_name=DEVICE_BINDING
    )
    try:
        # Outside the time bound: the first setup loads the WSDL (local files, once).
        await service.setup()
        async with asyncio.timeout(INFO_SECONDS):
            answer = await service.authless_GetDeviceInformation()
    except (*INFO_ERRORS, TimeoutError) as e:
        log.debug("onvif: no device information from %s: %s", url[:120], e)
        return {}
    finally:
        await service.close()
    return {name: clip(getattr(answer, name, None) or "") for name in INFO_FIELDS}


def found(match: ProbeMatch, url: str, info: dict[str, str]) -> Found:
    """The camera as reported: the device's own answer first, its scopes after."""
    scopes = onvif_scopes(match.scopes)
    attributes = {
        "firmware": info.get("FirmwareVersion", ""),
        "hardwareId": info.get("HardwareId", ""),
        "name": scopes.get("name", ""),
        "location": scopes.get("location", ""),
        "hardware": scopes.get("hardware", ""),
    }
    return Found(
        identity=clip(f"onvif:{match.endpoint}", IDENTITY_MAX_CHARS),
        protocol="onvif",
        address=clip(url),
        device_class="camera",
        vendor=info.get("Manufacturer", ""),
        model=info.get("Model") or clip(scopes.get("hardware", "")),
        serial=info.get("SerialNumber", ""),
        attributes={k: clip(v) for k, v in list(attributes.items())[:ATTRIBUTES_MAX] if v},
    )
