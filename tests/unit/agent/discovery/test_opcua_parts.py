"""OPC UA discovery's pure parts: what a server's FindServers entry and Read results
become (all of it untrusted), which URLs we connect to, which browse nodes parse, and
how many sessions the handlers of one process hold at once (against stand-ins)."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import ua
from asyncua.ua.status_codes import StatusCodes

from edgeplane.agent.discovery import opcua
from edgeplane.agent.discovery.base import ATTRIBUTES_MAX, IDENTITY_MAX_CHARS, TEXT_MAX_CHARS
from edgeplane.agent.discovery.opcua import (
    CLOSE_SECONDS,
    FIND_SECONDS,
    READ_SECONDS,
    SESSIONS_MAX,
    ServerInfo,
    address_of,
    describe,
    handler,
    is_url,
    node_ids,
    server_info,
    text_of,
    value_text,
)
from edgeplane.api.discovery import INTERVAL_SECONDS_MIN, OpcuaDiscovery

ENDPOINT = "opc.tcp://10.0.0.5:4840"


def app(
    uri: str | None = "urn:acme:plc",
    kind: ua.ApplicationType = ua.ApplicationType.Server,
    urls: list[str] | None = None,
) -> ua.ApplicationDescription:
    description = ua.ApplicationDescription()
    description.ApplicationUri = uri  # servers do send a null URI
    description.ApplicationType = kind
    description.ApplicationName = ua.LocalizedText("Line 3")
    description.ProductUri = "urn:acme:ac-900"
    description.DiscoveryUrls = urls or []
    return description


def good(value: object) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value))


def bad() -> ua.DataValue:
    return ua.DataValue(StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadNodeIdUnknown)))


TEXTS = [
    ("localized-text", ua.LocalizedText("Acme", "en"), "Acme"),
    ("localized-empty", ua.LocalizedText(None), ""),
    ("qualified-name", ua.QualifiedName("Temperature", 2), "Temperature"),
    ("number", 21.5, "21.5"),
    ("none", None, ""),
    ("controls-blanked", "Ac\x1b[2Jme\n", "Ac [2Jme"),
    ("long-clipped", "x" * 1000, "x" * TEXT_MAX_CHARS),
]


@pytest.mark.parametrize(("value", "text"), [t[1:] for t in TEXTS], ids=[t[0] for t in TEXTS])
def test_text_of(value: object, text: str) -> None:
    assert text_of(value) == text


def test_value_text_is_empty_unless_good() -> None:
    assert value_text(good("Acme")) == "Acme"
    assert value_text(bad()) == ""
    assert value_text(ua.DataValue()) == ""


URLS = [
    ("opc-tcp", "opc.tcp://plc.local:4840/path", True),
    ("no-port", "opc.tcp://plc.local/", False),
    ("other-scheme", "http://plc.local:80/", False),
    ("space", "opc.tcp://plc local:4840", False),
    ("control", "opc.tcp://plc:4840/\x00", False),
    ("bad-ipv6", "opc.tcp://[::1:4840", False),
    ("bad-port", "opc.tcp://plc:99999", False),
    ("too-long", "opc.tcp://plc:4840/" + "a" * 600, False),
    ("not-text", 4840, False),
]


@pytest.mark.parametrize(("url", "usable"), [u[1:] for u in URLS], ids=[u[0] for u in URLS])
def test_is_url(url: object, usable: bool) -> None:
    assert is_url(url) is usable


def test_address_is_the_first_usable_discovery_url_else_the_endpoint() -> None:
    urls = ["http://plc:80/", "opc.tcp://plc:4841", "opc.tcp://plc:4842"]
    assert address_of(app(urls=urls), ENDPOINT) == "opc.tcp://plc:4841"
    assert address_of(app(urls=["opc.tcp://bad host:1"]), ENDPOINT) == ENDPOINT


def test_server_info_keeps_what_was_read() -> None:
    build = [good("Acme"), good("AC-900"), good("4.2.1"), bad()]
    info = server_info(build, [good(21.5), bad()], [good(ua.QualifiedName("T", 2))], ["a", "b"])
    assert info == ServerInfo(
        vendor="Acme",
        model="AC-900",
        attributes={"softwareVersion": "4.2.1", "node:a": "21.5", "name:a": "T"},
    )


def test_server_info_reads_missing_results_as_empty() -> None:
    assert server_info([good("Acme")], [], [], ["a"]) == ServerInfo(vendor="Acme")


def test_describe_a_server() -> None:
    info = ServerInfo("Acme", "AC-900", {"softwareVersion": "4.2.1"})
    found = describe(app(urls=["opc.tcp://plc:4840"]), ENDPOINT, info)
    assert found is not None
    assert (found.identity, found.protocol, found.address) == (
        "opcua:urn:acme:plc",
        "opcua",
        "opc.tcp://plc:4840",
    )
    assert (found.device_class, found.vendor, found.model, found.serial) == (
        "plc",
        "Acme",
        "AC-900",
        "",
    )
    assert found.attributes == {
        "applicationName": "Line 3",
        "productUri": "urn:acme:ac-900",
        "endpoint": ENDPOINT,
        "softwareVersion": "4.2.1",
    }


def test_describe_without_a_session_keeps_what_find_servers_said() -> None:
    found = describe(app(), ENDPOINT, None)
    assert found is not None
    assert (found.vendor, found.model, found.address) == ("", "", ENDPOINT)


NOT_DEVICES = [
    ("no-uri", app(uri=None)),
    ("blank-uri", app(uri=" \x00 ")),
    ("discovery-server", app(kind=ua.ApplicationType.DiscoveryServer)),
    ("client", app(kind=ua.ApplicationType.Client)),
]


@pytest.mark.parametrize("listed", [n[1] for n in NOT_DEVICES], ids=[n[0] for n in NOT_DEVICES])
def test_what_is_not_a_device(listed: ua.ApplicationDescription) -> None:
    assert describe(listed, ENDPOINT, None) is None


def test_describe_is_bounded() -> None:
    many = {f"node:{i}": "v" for i in range(ATTRIBUTES_MAX * 2)}
    found = describe(app(uri="urn:" + "u" * 1000), ENDPOINT, ServerInfo(attributes=many))
    assert found is not None
    assert len(found.identity) == IDENTITY_MAX_CHARS
    assert len(found.attributes) == ATTRIBUTES_MAX
    assert "applicationName" in found.attributes  # what FindServers said goes first


def test_node_ids_skip_what_does_not_parse() -> None:
    parsed = node_ids(["ns=2;s=Temperature", "i=2258", "nonsense"])
    assert parsed == {
        "ns=2;s=Temperature": ua.NodeId(ua.String("Temperature"), ua.Int16(2)),
        "i=2258": ua.NodeId(ua.Int32(2258)),
    }


def test_a_scan_ends_within_the_shortest_interval() -> None:
    """Past its interval the runner cancels a scan and loses all it found; endpoints
    are scanned side by side, each within FindServers + reads + closing."""
    assert FIND_SECONDS + READ_SECONDS + CLOSE_SECONDS < INTERVAL_SECONDS_MIN


async def test_sessions_are_bounded_across_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent runs many profiles: together they hold at most SESSIONS_MAX sessions.
    Each endpoint lists more servers than that (stand-ins for FindServers and reads)."""
    reading, peak = 0, 0

    async def find_servers(endpoint: str) -> list[ua.ApplicationDescription]:
        return [app(f"urn:{endpoint}:{i}", urls=[f"{endpoint}{i}"]) for i in range(SESSIONS_MAX)]

    async def read_server(url: str, browse: dict[str, ua.NodeId]) -> ServerInfo:
        nonlocal reading, peak
        reading += 1
        peak = max(peak, reading)
        await asyncio.sleep(0.05)
        reading -= 1
        return ServerInfo(vendor="Acme")

    monkeypatch.setattr(opcua, "_find_servers", find_servers)
    monkeypatch.setattr(opcua, "_read_server", read_server)
    profiles = [
        OpcuaDiscovery.model_validate({"endpoints": [e]})
        for e in ("opc.tcp://a:1/", "opc.tcp://b:1/")
    ]

    scans = await asyncio.gather(*(handler(p).scan() for p in profiles))

    assert [len(found) for found in scans] == [SESSIONS_MAX] * 2
    assert {f.vendor for found in scans for f in found} == {"Acme"}
    assert peak == SESSIONS_MAX
