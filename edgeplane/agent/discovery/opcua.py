"""OPC UA discovery: the servers each endpoint knows, what they are, and node values.

One scan asks every endpoint the profile names for its servers (FindServers, which
needs no session), then opens a session on each server found to read who made it
(``Server_ServerStatus_BuildInfo``) and the values of the profile's ``browse`` nodes.
Everything is bounded: each request by ``REQUEST_SECONDS``, FindServers and the reads
of one endpoint by ``FIND_SECONDS`` and ``READ_SECONDS``, the sessions the whole
process holds by ``SESSIONS_MAX``. A server that cannot be read in time, or in any way,
is still reported from what FindServers said; an endpoint that refuses, hangs or makes
asyncua fail otherwise is simply not found (debug log), and the others are.

Neighbours: ``base`` (``Found``, ``Handler``, ``clip``), ``api.discovery``
(``OpcuaDiscovery``), the runner that calls ``scan`` every interval.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.uaerrors import UaError

from edgeplane.agent.discovery.base import (
    ATTRIBUTES_MAX,
    FOUND_PER_SCAN_MAX,
    IDENTITY_MAX_CHARS,
    Found,
    Handler,
    ProcessSlots,
    clip,
)

if TYPE_CHECKING:
    from edgeplane.api.discovery import OpcuaDiscovery

log = logging.getLogger("edgeplane.agent.discovery.opcua")

# asyncua logs every connect and read at info level, and a server that refuses,
# drops the socket or answers badly at warning, error or with a traceback (its close
# paths use logger.exception); across a site's endpoints, every scan, that floods the
# agent's log with device faults we already report at debug level. Set once at import
# (only a profile naming OPC UA imports this module); a level the operator set first
# is kept.
if logging.getLogger("asyncua").level == logging.NOTSET:
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)

REQUEST_SECONDS = 2.0
"""One OPC UA request (and the TCP connect): asyncua's own timeout."""
FIND_SECONDS = 2.0
"""Connecting to one endpoint and its FindServers answer."""
READ_SECONDS = 2.0
"""Reading every server one endpoint listed; a server not read by then is reported
from FindServers alone."""
CLOSE_SECONDS = 0.5
"""Closing a session politely; the socket is closed regardless."""
# Endpoints are scanned side by side, so a scan takes at most FIND + READ + CLOSE
# seconds: under the shortest interval (5 s), past which the runner cancels the scan
# and everything it found with it.
SESSIONS_MAX = 16
"""Server sessions open at once in the process: every profile's scans share them."""
SERVERS_PER_ENDPOINT_MAX = 64
URL_MAX_CHARS = 512
MESSAGE_MAX_BYTES = 1024 * 1024
"""The largest answer we ask a server to send (asyncua's default: unlimited). A server
honours it through the Hello exchange; one that lies is bounded by time alone."""
IDENTITY_PREFIX = "opcua:"

DEVICE_TYPES = (ua.ApplicationType.Server, ua.ApplicationType.ClientAndServer)
"""What a device is; a discovery server or a client listed by an LDS is not."""
BUILD_INFO = (
    ObjectIds.Server_ServerStatus_BuildInfo_ManufacturerName,
    ObjectIds.Server_ServerStatus_BuildInfo_ProductName,
    ObjectIds.Server_ServerStatus_BuildInfo_SoftwareVersion,
    ObjectIds.Server_ServerStatus_BuildInfo_BuildNumber,
)
# What a server's fault looks like from asyncua: refused or dropped connections
# (OSError), no answer (TimeoutError), bad status codes, and answers its decoders
# choke on. Answers are decoded in the awaiting call, not in asyncua's protocol, so a
# malformed one raises here: mutating valid FindServers and Read responses gave
# UaError (NotEnoughData), ValueError, struct.error, IndexError and TypeError. Anything
# else (EOFError, asyncio.IncompleteReadError) fails that endpoint or server alone too,
# logged at debug with its traceback.
SERVER_ERRORS = (UaError, OSError, TimeoutError, ValueError, LookupError, TypeError, struct.error)


@dataclass(frozen=True)
class ServerInfo:
    """What one server's session read: BuildInfo and the ``browse`` nodes."""

    vendor: str = ""
    model: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def text_of(value: object) -> str:
    """A value read from a server as clipped text (a name's text, not its repr)."""
    if isinstance(value, ua.LocalizedText):
        value = value.Text or ""
    elif isinstance(value, ua.QualifiedName):
        value = value.Name or ""
    return clip("" if value is None else value)


def value_text(result: ua.DataValue) -> str:
    """The text of one Read result; empty when the server said it is not good."""
    good = result.StatusCode is None or result.StatusCode.is_good()
    if not good or result.Value is None:
        return ""
    return text_of(result.Value.Value)


def is_url(text: object) -> bool:
    """Whether a URL (one a server advertises, or a profile names) is one we may
    connect to and hand on as an address: opc.tcp, printable, a host and a port."""
    if not isinstance(text, str) or not text.startswith("opc.tcp://"):
        return False
    if len(text) > URL_MAX_CHARS or not all(c.isprintable() and not c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
        return bool(parts.hostname) and parts.port is not None
    except ValueError:  # a bad IPv6 literal or port: asyncua would raise the same
        return False


def address_of(app: ua.ApplicationDescription, endpoint: str) -> str:
    """The server's first opc.tcp discovery URL, else the endpoint that listed it."""
    return next((url for url in app.DiscoveryUrls or [] if is_url(url)), endpoint)


def server_info(
    build: Sequence[ua.DataValue],
    values: Sequence[ua.DataValue],
    names: Sequence[ua.DataValue],
    browse: Sequence[str],
) -> ServerInfo:
    """BuildInfo and node reads as a ``ServerInfo``. A server may answer fewer results
    than asked: missing ones read as empty. Node values come before browse names, so
    names are the first dropped when attributes run out."""
    vendor, model, version, number = (value_text(r) for r in padded(build, len(BUILD_INFO)))
    attributes = {"softwareVersion": version, "buildNumber": number}
    attributes |= {f"node:{n}": value_text(r) for n, r in zip(browse, values, strict=False)}
    attributes |= {f"name:{n}": value_text(r) for n, r in zip(browse, names, strict=False)}
    kept = {key: text for key, text in attributes.items() if text}
    return ServerInfo(vendor=vendor, model=model, attributes=kept)


def padded(results: Sequence[ua.DataValue], count: int) -> list[ua.DataValue]:
    return [*results[:count], *(ua.DataValue() for _ in range(count - len(results)))]


def describe(
    app: ua.ApplicationDescription, endpoint: str, info: ServerInfo | None
) -> Found | None:
    """The ``Found`` for one listed server, None when it is not a device or gives no
    application URI (nothing stable to call it by)."""
    uri = clip(app.ApplicationUri or "", IDENTITY_MAX_CHARS - len(IDENTITY_PREFIX))
    if not uri or app.ApplicationType not in DEVICE_TYPES:
        return None
    info = info or ServerInfo()
    listed = {
        "applicationName": text_of(app.ApplicationName),
        "productUri": clip(app.ProductUri or ""),
        "endpoint": endpoint,
    }
    attributes = {k: v for k, v in listed.items() if v} | info.attributes
    return Found(
        identity=IDENTITY_PREFIX + uri,
        protocol="opcua",
        address=address_of(app, endpoint),
        device_class="plc",
        vendor=info.vendor,
        model=info.model,
        attributes=dict(list(attributes.items())[:ATTRIBUTES_MAX]),
    )


def node_ids(browse: Iterable[str]) -> dict[str, ua.NodeId]:
    """The profile's browse nodes that parse, by the text the profile gave."""
    parsed: dict[str, ua.NodeId] = {}
    for text in browse:
        try:
            parsed[text] = ua.NodeId.from_string(text)
        except (UaError, ValueError):
            log.warning("opcua: browse node %r is not a node id (ns=2;s=Name); skipped", text)
    return parsed


session_slots = ProcessSlots(SESSIONS_MAX)
"""The process's ``SESSIONS_MAX``, shared by every handler (``base.ProcessSlots``)."""


class OpcuaHandler:
    """Scans the profile's endpoints; holds nothing between scans."""

    def __init__(self, params: OpcuaDiscovery) -> None:
        self._endpoints = [e for e in params.endpoints if is_url(e)]
        for skipped in set(params.endpoints) - set(self._endpoints):
            log.warning(
                "opcua: endpoint %r has no host and port (opc.tcp://host:4840); skipped", skipped
            )
        self._browse = node_ids(params.browse)

    async def scan(self) -> list[Found]:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._scan_endpoint(e)) for e in self._endpoints]
        unique: dict[str, Found] = {}
        for found in (f for task in tasks for f in task.result()):
            # Two endpoints may list one server: keep the sighting with its BuildInfo.
            if found.identity not in unique or (found.vendor and not unique[found.identity].vendor):
                unique[found.identity] = found
        return list(unique.values())[:FOUND_PER_SCAN_MAX]

    async def close(self) -> None:
        """Nothing to stop: every session is closed by the scan that opened it."""

    async def _scan_endpoint(self, endpoint: str) -> list[Found]:
        apps = await _find_servers(endpoint)
        devices = [app for app in apps if app.ApplicationType in DEVICE_TYPES]
        infos: dict[int, ServerInfo] = {}
        try:
            async with asyncio.timeout(READ_SECONDS), asyncio.TaskGroup() as group:
                for i, app in enumerate(devices):
                    # A server listing only itself is read where we reached it: the
                    # host name it advertises may not resolve from here.
                    url = endpoint if len(devices) == 1 else address_of(app, endpoint)
                    group.create_task(self._read_into(infos, i, url))
        except TimeoutError:
            log.debug("opcua %s: %d of %d servers read in time", endpoint, len(infos), len(devices))
        found = (describe(app, endpoint, infos.get(i)) for i, app in enumerate(devices))
        return [f for f in found if f is not None]

    async def _read_into(self, infos: dict[int, ServerInfo], index: int, url: str) -> None:
        async with session_slots():
            if (info := await _read_server(url, self._browse)) is not None:
                infos[index] = info


def _client(url: str) -> Client:
    client = Client(url, timeout=REQUEST_SECONDS)
    client.max_messagesize = MESSAGE_MAX_BYTES
    return client


async def _find_servers(endpoint: str) -> list[ua.ApplicationDescription]:
    """What ``endpoint`` says it knows (at most ``SERVERS_PER_ENDPOINT_MAX``); empty
    when it cannot be reached or does not answer in time."""
    client = _client(endpoint)
    try:
        async with asyncio.timeout(FIND_SECONDS):
            apps = await client.connect_and_find_servers()
    except Exception as e:  # whatever the server provoked costs this endpoint alone
        unexpected = not isinstance(e, SERVER_ERRORS)
        name = type(e).__name__
        log.debug(
            "opcua %s: no FindServers answer (%s: %s)", endpoint, name, e, exc_info=unexpected
        )
        return []
    finally:
        client.disconnect_socket()  # also when the timeout cut the exchange short
    return list(apps or [])[:SERVERS_PER_ENDPOINT_MAX]


async def _read_server(url: str, browse: dict[str, ua.NodeId]) -> ServerInfo | None:
    """BuildInfo and the browse nodes of the server at ``url``, over an anonymous
    session without security; None when it cannot be reached or read."""
    client = _client(url)
    connected = False
    try:
        await client.connect()
        connected = True
        return await _read_info(client, browse)
    except Exception as e:  # whatever the server provoked costs this server's read alone
        unexpected = not isinstance(e, SERVER_ERRORS)
        log.debug("opcua %s: not read (%s: %s)", url, type(e).__name__, e, exc_info=unexpected)
        return None
    finally:
        await _close(client, connected)


async def _read_info(client: Client, browse: dict[str, ua.NodeId]) -> ServerInfo:
    build = [ua.NodeId(ua.Int32(i)) for i in BUILD_INFO]
    nodes = list(browse.values())
    values = await client.uaclient.read_attributes(build + nodes, AttributeIds.Value)
    names = await client.uaclient.read_attributes(nodes, AttributeIds.BrowseName) if nodes else []
    return server_info(values[: len(build)], values[len(build) :], names, list(browse))


async def _close(client: Client, connected: bool) -> None:
    """Close the session when there is one, within ``CLOSE_SECONDS``; the socket goes
    in any case, even when the server never acknowledges."""
    try:
        if connected:
            async with asyncio.timeout(CLOSE_SECONDS):
                await client.disconnect()
    except Exception as e:
        log.debug("opcua %s: closed without goodbye (%s)", client.server_url.geturl(), e)
    finally:
        client.disconnect_socket()


def handler(params: OpcuaDiscovery) -> Handler:
    return OpcuaHandler(params)
