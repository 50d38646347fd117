"""mDNS / DNS-SD: the services of the types a profile names, on the interfaces it names.

The first scan starts zeroconf (asyncio API) on those interface addresses only, and a
browser for the service types; from then on zeroconf keeps the set of instances
current (announced, said goodbye, or expired), and each scan resolves what it holds
now: SRV, A/AAAA and TXT, from zeroconf's cache while fresh, else asked for within
``RESOLVE_MS`` (``RESOLVING_AT_ONCE`` at a time), at most ``RESOLVES_PER_SCAN`` of
them a scan. An instance that does not resolve is left out of this scan and tried
again at a later one. Asked first are those that resolved last time, then those never
tried (the newest announced first), then those whose last try failed longest ago: a
host announcing many names that never resolve delays no other service, keeps no scan
past a few seconds, and each of its names is still tried every few scans. ``close``
stops zeroconf.

Binding: zeroconf joins the mDNS group and sends only on the interfaces named; its
receiving socket is bound to 0.0.0.0:5353 (or [::]:5353), as any mDNS receiver must be
to get multicast, so it would also see unicast mDNS sent to the host's other addresses.

What a service becomes (``Found``):

* identity ``mdns:<instance name>`` (``mdns:Lobby printer._ipp._tcp.local.``);
* address ``host:port`` of its first address (IPv4 first; IPv6 in brackets), or a URL
  ``scheme://host:port/path`` when its TXT names a ``path`` or a ``scheme`` (DNS-SD's
  convention for ``_http._tcp``); the scheme defaults to the service name
  (``_http._tcp`` gives ``http``);
* class: the profile's ``class``, else TXT ``class``, else by service type
  (``SERVICE_CLASSES``: printers, cameras), else ``service``;
* vendor, model, serial: the first TXT key of ``VENDOR_KEYS``, ``MODEL_KEYS``,
  ``SERIAL_KEYS`` (DNS-SD keys are case-insensitive); the other TXT pairs, the service
  type and the host name go to attributes. Everything is clipped (``base.clip``).

Neighbours: ``base`` (the handler contract), ``api.discovery.MdnsDiscovery``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edgeplane.agent.discovery.base import (
    ATTRIBUTES_MAX,
    FOUND_PER_SCAN_MAX,
    IDENTITY_MAX_CHARS,
    Found,
    Handler,
    clip,
)

if TYPE_CHECKING:
    from edgeplane.api.discovery import MdnsDiscovery

log = logging.getLogger("edgeplane.agent.discovery.mdns")
RESOLVE_MS = 1500
RESOLVING_AT_ONCE = 16
RESOLVES_PER_SCAN = 32
"""Instances one scan asks the network for: it then takes at most (32 / 16) x 1.5 s,
within the shortest interval (5 s) past which the runner cancels it. What resolves
from zeroconf's cache costs nothing and is not counted."""
RESOLVED = -1
"""How a name's last try went when it resolved: those go first (see ``scan``)."""
SERVICE_CLASSES = {
    "_ipp._tcp.local.": "printer",
    "_ipps._tcp.local.": "printer",
    "_printer._tcp.local.": "printer",
    "_pdl-datastream._tcp.local.": "printer",
    "_rtsp._tcp.local.": "camera",
    "_axis-video._tcp.local.": "camera",
}
VENDOR_KEYS = ("vendor", "manufacturer", "mf")
MODEL_KEYS = ("model", "md", "product", "ty")  # ty: the IPP printer's make and model
SERIAL_KEYS = ("serial", "sn")
TXT_KEY_MAX_CHARS = 64
CLASS_MAX_CHARS = 63
"""The class is a label value."""
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


def handler(params: MdnsDiscovery) -> Handler:
    return MdnsHandler(params)


class MdnsHandler:
    def __init__(self, params: MdnsDiscovery) -> None:
        self.params = params
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self.known: dict[str, str] = {}
        """Instance name to service type, for what the browser holds now."""
        self._scans = 0
        self._last_try: dict[str, int] = {}
        """Instance name to how its last try went: ``RESOLVED``, or the scan it failed
        in (from 1); a name never tried counts as 0."""

    async def scan(self) -> list[Found]:
        zeroconf = self._start()
        self._scans += 1
        cached: list[AsyncServiceInfo] = []
        asked: list[AsyncServiceInfo] = []
        for name, service_type in list(self.known.items())[:FOUND_PER_SCAN_MAX]:
            info = AsyncServiceInfo(service_type, name)
            if info.load_from_cache(zeroconf):
                self._last_try[name] = RESOLVED
                cached.append(info)
            else:
                asked.append(info)
        asked.reverse()  # among names never tried, the newest announced first
        asked.sort(key=lambda info: self._last_try.get(info.name, 0))
        limit = asyncio.Semaphore(RESOLVING_AT_ONCE)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self._resolve(zeroconf, info, limit))
                for info in asked[:RESOLVES_PER_SCAN]
            ]
        found = [describe(info, self.params.device_class) for info in cached]
        found += [task.result() for task in tasks]
        return [f for f in found if f is not None]

    async def close(self) -> None:
        browser, running = self._browser, self._zeroconf
        self._browser, self._zeroconf = None, None
        self.known.clear()
        self._last_try.clear()
        if browser is not None:
            await browser.async_cancel()
        if running is not None:
            await running.async_close()

    def _start(self) -> Zeroconf:
        if self._zeroconf is None:
            self._zeroconf = AsyncZeroconf(interfaces=list(self.params.interfaces))
            # One browser for every type: zeroconf asks for them all in one query.
            self._browser = AsyncServiceBrowser(
                self._zeroconf.zeroconf, list(self.params.service_types), handlers=[self._changed]
            )
        return self._zeroconf.zeroconf

    def _changed(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        """zeroconf's callback (called by keyword: these names are its)."""
        if state_change is ServiceStateChange.Removed:
            self.known.pop(name, None)
            self._last_try.pop(name, None)
        elif len(self.known) < FOUND_PER_SCAN_MAX:  # a flood of announcements stays bounded
            self.known.setdefault(name, service_type)

    async def _resolve(
        self, zeroconf: Zeroconf, info: AsyncServiceInfo, limit: asyncio.Semaphore
    ) -> Found | None:
        async with limit:
            resolved = await info.async_request(zeroconf, RESOLVE_MS)
        if info.name not in self.known:  # gone while resolving
            return None
        if not resolved:
            log.debug("mdns: %s did not resolve", info.name[:120])
            self._last_try[info.name] = self._scans
            return None
        self._last_try[info.name] = RESOLVED
        return describe(info, self.params.device_class)


def describe(info: AsyncServiceInfo, device_class: str | None = None) -> Found | None:
    """A resolved service as a ``Found``; None without an address or a port."""
    addresses = info.parsed_scoped_addresses(IPVersion.V4Only) or info.parsed_scoped_addresses(
        IPVersion.V6Only
    )
    if not addresses or not info.port:
        return None
    host = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
    txt = _txt(info)
    used = {"class", "path", "scheme", *VENDOR_KEYS, *MODEL_KEYS, *SERIAL_KEYS}
    attributes = {"serviceType": info.type, "server": info.server or ""}
    attributes.update((key, value) for key, value in txt.items() if key not in used)
    return Found(
        identity=clip(f"mdns:{info.name}", IDENTITY_MAX_CHARS),
        protocol="mdns",
        address=clip(address(info.type, host, info.port, txt)),
        device_class=clip(
            device_class or txt.get("class") or service_class(info.type), CLASS_MAX_CHARS
        ),
        vendor=_first(txt, VENDOR_KEYS),
        model=_first(txt, MODEL_KEYS),
        serial=_first(txt, SERIAL_KEYS),
        attributes=_bounded(attributes),
    )


def service_class(service_type: str) -> str:
    return SERVICE_CLASSES.get(service_type.lower(), "service")


def address(service_type: str, host: str, port: int, txt: dict[str, str]) -> str:
    """``host:port``, or a URL when the TXT names a path or a scheme."""
    path, scheme = txt.get("path", ""), txt.get("scheme", "").lower()
    if not path and not scheme:
        return f"{host}:{port}"
    scheme = scheme or service_type.split(".", 1)[0].removeprefix("_").lower()
    if not _SCHEME.fullmatch(scheme):
        return f"{host}:{port}"
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}"


def _txt(info: AsyncServiceInfo) -> dict[str, str]:
    """TXT pairs by lowercased key (the first of a key wins, RFC 6763 §6.4); a key
    without a value is kept with an empty one."""
    pairs: dict[str, str] = {}
    for key, value in info.decoded_properties.items():
        pairs.setdefault(key.lower(), value or "")
    return pairs


def _first(txt: dict[str, str], keys: tuple[str, ...]) -> str:
    return next((clip(txt[key]) for key in keys if txt.get(key)), "")


def _bounded(attributes: dict[str, str]) -> dict[str, str]:
    kept = [(k, v) for k, v in attributes.items() if v][:ATTRIBUTES_MAX]
    return {clip(k, TXT_KEY_MAX_CHARS): clip(v) for k, v in kept}
