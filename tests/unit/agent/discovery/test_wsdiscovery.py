"""The WS-Discovery wire format (``agent.discovery.wsdiscovery``): the probe we send,
the ProbeMatches we accept, what we refuse before parsing, and the ONVIF scopes."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from edgeplane.agent.discovery.wsdiscovery import (
    DATAGRAM_MAX_BYTES,
    ITEMS_MAX,
    ProbeMatch,
    Refused,
    new_message_id,
    onvif_scopes,
    probe,
    probe_matches,
)
from tests.support.onvifsim import Camera
from tests.support.onvifsim import probe_matches as simulated_matches

OURS = "urn:uuid:11111111-2222-4333-8444-555555555555"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"


def answer(matches: str, relates_to: str = OURS, soap: str = SOAP) -> bytes:
    """A ProbeMatches envelope around ``matches`` (ProbeMatch elements)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<e:Envelope xmlns:e="{soap}" xmlns:w="{ADDRESSING}" xmlns:d="{DISCOVERY}">
<e:Header><w:RelatesTo> {relates_to} </w:RelatesTo></e:Header>
<e:Body><d:ProbeMatches>{matches}</d:ProbeMatches></e:Body></e:Envelope>""".encode()


def match(
    endpoint: str = "urn:uuid:cam-1",
    xaddrs: str = "http://10.0.0.9/onvif/device_service",
    scopes: str = "",
    types: str = "dn:NetworkVideoTransmitter",
) -> str:
    return (
        f"<d:ProbeMatch><w:EndpointReference><w:Address>{endpoint}</w:Address>"
        f"</w:EndpointReference><d:Types>{types}</d:Types><d:Scopes>{scopes}</d:Scopes>"
        f"<d:XAddrs>{xaddrs}</d:XAddrs></d:ProbeMatch>"
    )


def test_the_probe_asks_onvif_transmitters_and_carries_its_message_id() -> None:
    message_id = new_message_id()
    root = ElementTree.fromstring(probe(message_id))

    header = {e.tag: (e.text or "").strip() for e in root.iterfind(f"{{{SOAP}}}Header/*")}
    assert header[f"{{{ADDRESSING}}}MessageID"] == message_id
    assert header[f"{{{ADDRESSING}}}Action"] == f"{DISCOVERY}/Probe"
    assert header[f"{{{ADDRESSING}}}To"] == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    types = root.find(f"{{{SOAP}}}Body/{{{DISCOVERY}}}Probe/{{{DISCOVERY}}}Types")
    assert types is not None and types.text == "dn:NetworkVideoTransmitter"
    assert message_id.startswith("urn:uuid:") and new_message_id() != message_id


def test_a_camera_answer_is_read() -> None:
    datagram = simulated_matches(Camera(), "http://127.0.0.1:8080/onvif/device_service", OURS)

    (found,) = probe_matches(datagram, OURS)

    assert found.endpoint == Camera().endpoint
    assert found.xaddrs == ("http://127.0.0.1:8080/onvif/device_service",)
    assert found.scopes == Camera().scopes
    assert found.types == ("dn:NetworkVideoTransmitter",)


@pytest.mark.parametrize(
    ("datagram", "matches"),
    [
        (answer(match() + match("urn:uuid:cam-2")), ["urn:uuid:cam-1", "urn:uuid:cam-2"]),
        (answer(match(endpoint="")), []),
        (answer(""), []),
        (answer(match(), soap="http://schemas.xmlsoap.org/soap/envelope/"), ["urn:uuid:cam-1"]),
        ("\ufeff".encode() + answer(match()), ["urn:uuid:cam-1"]),
        (answer(match() * 100), ["urn:uuid:cam-1"] * 64),
    ],
    ids=["two-matches", "no-endpoint-dropped", "empty", "soap-1.1", "utf-8-bom", "bounded"],
)
def test_matches(datagram: bytes, matches: list[str]) -> None:
    assert [m.endpoint for m in probe_matches(datagram, OURS)] == matches


def test_lists_in_a_match_are_bounded() -> None:
    many = " ".join(f"http://10.0.0.{i}/" for i in range(100))

    (found,) = probe_matches(answer(match(xaddrs=many, scopes=many)), OURS)

    assert len(found.xaddrs) == len(found.scopes) == ITEMS_MAX


LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><e>&b;</e>"""


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b" " * (DATAGRAM_MAX_BYTES + 1), "more than"),
        (b"\xff\xfe<\x00a\x00/\x00>\x00", "not UTF-8"),
        (LAUGHS, "declares a DTD"),
        (b'<!doctype e SYSTEM "file:///etc/passwd"><e/>', "declares a DTD"),
        (b'<e><!ENTITY x "y"></e>', "declares a DTD"),
        (b"not xml", "not XML"),
        (b"<a><b></a>", "not XML"),
        (b"<ProbeMatches/>", "not a SOAP envelope"),
        (answer(match(), relates_to="urn:uuid:someone-else"), "answers another probe"),
        (answer(match(), relates_to=""), "answers another probe"),
        (f'<e:Envelope xmlns:e="{SOAP}"><e:Body/></e:Envelope>'.encode(), "another probe"),
        (
            f'<e:Envelope xmlns:e="{SOAP}" xmlns:w="{ADDRESSING}"><e:Header><w:RelatesTo>'
            f"{OURS}</w:RelatesTo></e:Header><e:Body/></e:Envelope>".encode(),
            "no ProbeMatches",
        ),
    ],
    ids=[
        "oversized",
        "utf-16",
        "billion-laughs",
        "external-dtd",
        "entity",
        "text",
        "unbalanced",
        "not-envelope",
        "other-probe",
        "no-relates-to",
        "no-header",
        "no-matches",
    ],
)
def test_refused(datagram: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        probe_matches(datagram, OURS)


@pytest.mark.parametrize(
    ("xaddrs", "url"),
    [
        (("http://10.0.0.9/onvif/device_service",), "http://10.0.0.9/onvif/device_service"),
        (("soap.udp://10.0.0.9:3702", "https://10.0.0.9/d"), "https://10.0.0.9/d"),
        (("http:///no-host", "junk"), None),
        (("http://[bad/",), None),
        (("http://[bad/", "http://10.0.0.9/d"), "http://10.0.0.9/d"),
        ((), None),
    ],
    ids=["http", "first-http-of-several", "none-usable", "bad-ipv6", "after-bad-ipv6", "none"],
)
def test_service_url(xaddrs: tuple[str, ...], url: str | None) -> None:
    assert ProbeMatch("urn:uuid:cam", xaddrs=xaddrs).service_url == url


@pytest.mark.parametrize(
    ("scopes", "read"),
    [
        (
            Camera().scopes,
            {"name": "Lobby Cam", "hardware": "AC-2000-scope", "location": "building/7"},
        ),
        (
            ("onvif://www.onvif.org/location/country/fr", "onvif://www.onvif.org/location/lab"),
            {"location": "country/fr, lab"},
        ),
        (
            ("onvif://www.onvif.org/name/A", "onvif://www.onvif.org/name/B"),
            {"name": "A"},
        ),
        (
            (
                "onvif://www.onvif.org/Profile/Streaming",
                "http://example.com/name/x",
                "onvif://www.onvif.org/name/",
                "onvif://www.onvif.org/name/%ff%fe",
            ),
            {"name": "\ufffd\ufffd"},
        ),
    ],
    ids=["camera", "locations-joined", "first-name", "others-ignored"],
)
def test_onvif_scopes(scopes: tuple[str, ...], read: dict[str, str]) -> None:
    assert onvif_scopes(scopes) == read
