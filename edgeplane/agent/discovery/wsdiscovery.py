"""WS-Discovery as ONVIF speaks it (the 2005/04 draft over SOAP 1.2 and UDP), pure.

``probe`` builds the Probe an agent sends for ONVIF video transmitters;
``probe_matches`` reads one datagram that answers it into ``ProbeMatch`` values, and
``onvif_scopes`` reads what a camera says of itself in its scopes (name, hardware,
location). No sockets here: ``onvif`` sends and receives.

A datagram comes from anyone on the link, so it is refused (``Refused``, with the
reason) before any parser sees it when it is larger than ``DATAGRAM_MAX_BYTES``, not
UTF-8, or declares a DTD: without a DTD there is no entity to expand, which is what
defusedxml (not a dependency) would guard against. What is kept of it is bounded too.
Neighbours: ``onvif`` (the handler), ``base``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

MULTICAST_V4 = "239.255.255.250"
PORT = 3702
DATAGRAM_MAX_BYTES = 32 * 1024
"""A ProbeMatches is a few kilobytes; anything past this is not one."""
ITEMS_MAX = 32
"""XAddrs, scopes and types kept of one match."""
MATCHES_MAX = 64
"""ProbeMatch elements read from one datagram (a camera sends one)."""

NS_DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
TO_DISCOVERY = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ACTION_PROBE = f"{NS_DISCOVERY}/Probe"
ONVIF_SCOPE = "onvif://www.onvif.org/"

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="{addressing}" xmlns:d="{discovery}" \
xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:Action s:mustUnderstand="1">{action}</a:Action>
<a:MessageID>{message_id}</a:MessageID>
<a:ReplyTo><a:Address>{addressing}/role/anonymous</a:Address></a:ReplyTo>
<a:To s:mustUnderstand="1">{to}</a:To>
</s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>
</s:Envelope>
"""


class Refused(ValueError):
    """A datagram that is not a ProbeMatches answering our probe; says why."""


@dataclass(frozen=True)
class ProbeMatch:
    """One device that answered: its endpoint reference (stable across reboots and
    address changes), where its device service is, and what it says of itself."""

    endpoint: str
    xaddrs: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @property
    def service_url(self) -> str | None:
        """The first HTTP(S) XAddr: where GetDeviceInformation goes. One that does not
        parse (``http://[bad/``) is passed over: any host on the link may send it."""
        for xaddr in self.xaddrs:
            try:
                parts = urlsplit(xaddr)
                usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:
                continue
            if usable:
                return xaddr
        return None


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def probe(message_id: str) -> bytes:
    """A Probe for ONVIF video transmitters, answered with ``RelatesTo`` ``message_id``."""
    return _PROBE.format(
        addressing=NS_ADDRESSING,
        discovery=NS_DISCOVERY,
        action=ACTION_PROBE,
        message_id=escape(message_id),
        to=TO_DISCOVERY,
    ).encode()


def probe_matches(datagram: bytes, message_id: str) -> list[ProbeMatch]:
    """The matches of ``datagram`` if it answers the probe ``message_id``; ``Refused``
    otherwise. Elements are matched by local name: cameras mix addressing versions
    (2004/08 and 2005/08) and some answer in SOAP 1.1."""
    root = _envelope(datagram)
    header, body = _child(root, "Header"), _child(root, "Body")
    relates = _text(_child(header, "RelatesTo"))
    if relates != message_id:
        raise Refused(f"answers another probe ({relates[:80]!r})")
    matches = _child(body, "ProbeMatches")
    if matches is None:
        raise Refused("no ProbeMatches in the body")
    found = [_match(m) for m in _children(matches, "ProbeMatch")[:MATCHES_MAX]]
    return [m for m in found if m.endpoint]


def onvif_scopes(scopes: tuple[str, ...]) -> dict[str, str]:
    """``name``, ``hardware`` and ``location`` from ONVIF scopes
    (``onvif://www.onvif.org/name/Lobby%20Cam``), percent-decoded; several locations
    are joined with ``, ``. Others (``type``, ``Profile``) are left out."""
    found: dict[str, list[str]] = {}
    for scope in scopes:
        if not scope.startswith(ONVIF_SCOPE):
            continue
        category, _, value = scope.removeprefix(ONVIF_SCOPE).partition("/")
        if category in ("name", "hardware", "location") and value:
            found.setdefault(category, []).append(unquote(value, errors="replace"))
    return {
        category: ", ".join(values) if category == "location" else values[0]
        for category, values in found.items()
    }


def _envelope(datagram: bytes) -> ElementTree.Element:
    if len(datagram) > DATAGRAM_MAX_BYTES:
        raise Refused(f"more than {DATAGRAM_MAX_BYTES} bytes")
    try:
        text = datagram.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None
    # Parsed as text, expat reads it as UTF-8 whatever its declaration says, so a DTD
    # cannot hide behind another encoding from this check.
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise Refused("declares a DTD")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        raise Refused(f"not XML: {e}") from None
    if _local(root.tag) != "Envelope":
        raise Refused(f"not a SOAP envelope ({_local(root.tag)[:80]!r})")
    return root


def _match(element: ElementTree.Element) -> ProbeMatch:
    reference = _child(element, "EndpointReference")
    return ProbeMatch(
        endpoint=_text(_child(reference, "Address")),
        xaddrs=_words(_child(element, "XAddrs")),
        scopes=_words(_child(element, "Scopes")),
        types=_words(_child(element, "Types")),
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(parent: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    return [] if parent is None else [c for c in parent if _local(c.tag) == name]


def _child(parent: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    children = _children(parent, name)
    return children[0] if children else None


def _text(element: ElementTree.Element | None) -> str:
    return "" if element is None else (element.text or "").strip()


def _words(element: ElementTree.Element | None) -> tuple[str, ...]:
    return tuple(_text(element).split()[:ITEMS_MAX])
