"""The site's own DNS for the fleet's applications (``--dns-listen``, ``--dns-zone``):
site-local endpoints first, so traffic stays at the site, and stays answered while
the site is cut off from the hub.

* Local endpoints come from this agent's runtime at every query's table: an instance
  that stops being Ready leaves the answers at once, with or without the hub.
* Remote endpoints (the same applications at other sites, with the hub's view of
  their health) come from ``GET /sites/{site}/endpoints`` every ``REFRESH_SECONDS``
  and are kept on disk, so an agent restarted while the hub is away still answers
  with them. While the hub is away they are as the hub last said.
* Every client of the site's DNS is placed at the site (``traffic.server``'s
  ``local_site``): the site's own instances, then its region's, then the nearest.

``dnslib`` is imported only when the agent serves DNS (the agent stays small).
Neighbours: ``agent.agent`` (runs it), ``hub.endpoints`` (the remote answer),
``traffic`` (the table, the answers and the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.credentials import write_private
from edgeplane.agent.errors import HubRefused, HubUnreachable
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.replicas import by_assignment
from edgeplane.agent.runtimes import InstanceStatus, Phase
from edgeplane.api.wire import Object
from edgeplane.traffic.table import Table, Target
from edgeplane.traffic.wire import from_wire

log = logging.getLogger("edgeplane.agent.naming")
REFRESH_SECONDS = 10.0
CACHE_FILE = "endpoints.json"
APPLICATIONS_MAX = 1000
TARGETS_MAX = 4096
"""Remote endpoints kept per application (the hub's answer is read no further)."""


def remote_targets(answer: object, site: str) -> dict[str, tuple[Target, ...]]:
    """The hub's answer, read defensively: other sites' targets by application."""
    apps = answer.get("applications") if isinstance(answer, Mapping) else None
    found: dict[str, tuple[Target, ...]] = {}
    for app, raw in list(apps.items())[:APPLICATIONS_MAX] if isinstance(apps, Mapping) else ():
        if isinstance(app, str) and isinstance(raw, list):
            read = (from_wire(app, t) for t in raw[:TARGETS_MAX])
            found[app] = tuple(t for t in read if t is not None and t.site != site)
    return found


def local_targets(
    assignments: Mapping[str, Object],
    statuses: Mapping[str, InstanceStatus],
    site: str,
    address: str,
    region: str | None,
) -> dict[str, list[Target]]:
    """This site's instances with endpoints, by application; healthy when Running and
    Ready at their assignment's current generation."""
    found: dict[str, list[Target]] = {}
    for name, replicas in by_assignment(statuses).items():
        obj = assignments.get(name)
        if obj is None:
            continue
        app = obj["spec"]["application"]
        generation = int(obj["metadata"].get("generation") or 1)
        for status in replicas.values():
            healthy = (
                status.phase is Phase.RUNNING and status.ready and status.generation == generation
            )
            for e in status.endpoints:
                found.setdefault(app, []).append(
                    Target(app, site, region, None, None, address, e.port, e.name, 1, healthy)
                )
    return found


@dataclass(frozen=True)
class LocalDns:
    """``--dns-listen HOST:PORT --dns-zone ZONE [--dns-ttl N]``."""

    zone: str
    host: str = "127.0.0.1"
    port: int = 5353
    ttl: int = 5


class LocalNames:
    def __init__(
        self,
        link: HubLink,
        site: str,
        address: str,
        assignments: Callable[[], Mapping[str, Object]],
        statuses: Callable[[], Mapping[str, InstanceStatus]],
        data_dir: Path,
    ) -> None:
        self._link, self._site, self._address = link, site, _ip(address)
        self._assignments, self._statuses = assignments, statuses
        self._file = data_dir / CACHE_FILE
        self._remote: dict[str, tuple[Target, ...]] = remote_targets(_read(self._file), site)
        self._region: str | None = None
        self._last: tuple[object, Table] | None = None

    def table(self) -> Table:
        """Local instances as they are now, and the hub's last word on the others; the
        same Table while neither changed (the server numbers a new one)."""
        statuses = self._statuses()
        key = (id(self._remote), tuple(sorted(statuses.items())))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        local = (
            local_targets(self._assignments(), statuses, self._site, self._address, self._region)
            if self._address is not None
            else {}
        )
        merged = {
            app: tuple(local.get(app, ())) + self._remote.get(app, ())
            for app in set(local) | set(self._remote)
        }
        table = Table(merged)
        self._last = (key, table)
        return table

    async def run(self, dns: LocalDns, stop: asyncio.Event) -> None:
        from edgeplane.traffic.server import DnsServer  # dnslib, only when DNS is served

        server = DnsServer(
            dns.zone,
            self.table,
            ttl=dns.ttl,
            host=dns.host,
            port=dns.port,
            local_site=self._site,
        )
        await server.start()
        log.info("answering DNS for %s on %s:%d", dns.zone, dns.host, server.port)
        try:
            while not stop.is_set():
                await self.refresh()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(REFRESH_SECONDS):
                        await stop.wait()
        finally:
            await server.close()

    async def refresh(self) -> None:
        try:
            answer = await self._link.call("GET", f"{API}/sites/{self._site}/endpoints")
        except (HubUnreachable, HubRefused) as e:
            log.debug("endpoints not refreshed (the last ones stay): %s", e)
            return
        self._remote = remote_targets(answer, self._site)
        self._region = _region_of(answer)
        write_private(self._file, json.dumps(answer))


def _ip(address: str) -> str | None:
    """The address DNS answers for this site's instances: an IP literal, or none."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        log.warning("--address %r is not an IP address: DNS answers no local endpoint", address)
        return None


def _region_of(answer: Any) -> str | None:
    region = answer.get("region") if isinstance(answer, Mapping) else None
    return region if isinstance(region, str) else None


def _read(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
