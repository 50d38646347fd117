"""The agent's discovery: the profiles its site runs, a scanner per protocol of each,
and the reports of what they found.

* Profiles come from the hub (``GET /sites/{site}/discoveryprofiles``) every
  ``REFRESH_SECONDS`` and are kept in the data dir, so a site cut off from the hub goes
  on scanning. A profile that changed restarts its scanners; one that went away stops
  them, and its devices leave the report.
* A scanner imports its handler's module the first time (``base.load``) and calls
  ``scan`` every ``intervalSeconds``, bounded by the interval: a handler that hangs is
  cancelled, and a scan that fails is logged and tried again next interval.
* Reports (``POST /sites/{site}/devices``) go every ``REPORT_SECONDS`` while something
  changed, and every ``REPORT_IDLE_SECONDS`` regardless (phases age with the grace
  period); the inventory is kept in the data dir (``devices.json``) so a restart does
  not forget when a device was last seen.

Neighbours: ``inventory`` (pure), the handler modules, ``hub.devices`` (the other end).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeplane.agent.credentials import write_private
from edgeplane.agent.discovery.base import Handler, load
from edgeplane.agent.discovery.inventory import Inventory, fit
from edgeplane.agent.errors import AgentError
from edgeplane.agent.hublink import API, HubLink

log = logging.getLogger("edgeplane.agent.discovery")
REFRESH_SECONDS = 30.0
REPORT_SECONDS = 2.0
REPORT_IDLE_SECONDS = 30.0
PROFILES_MAX = 64
REPORT_MAX_BYTES = 768 * 1024
"""Under the hub's default body limit (1 MiB), with room to spare."""

Scan = tuple[str, str]
"""(profile, protocol)."""


class Discovery:
    def __init__(self, link: HubLink, site: str, data_dir: Path) -> None:
        self.link, self.site, self.dir = link, site, data_dir
        self.inventory = Inventory()
        self.inventory.load(_read_json(self._devices_file))
        self.scanners: dict[Scan, tuple[str, asyncio.Task[None]]] = {}
        self._changed = asyncio.Event()
        self._told_empty = False
        self.reported: dict[str, Any] = {}
        """The hub's answer to the last report."""

    @property
    def _profiles_file(self) -> Path:
        return self.dir / "discoveryprofiles.json"

    @property
    def _devices_file(self) -> Path:
        return self.dir / "devices.json"

    async def run(self, stop: asyncio.Event) -> None:
        self.apply(_read_json(self._profiles_file))
        reports = asyncio.create_task(self._reports(stop), name="discovery-reports")
        try:
            while not stop.is_set():
                await self._refresh()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(REFRESH_SECONDS):
                        await stop.wait()
        finally:
            reports.cancel()
            await self._stop_all()
            with contextlib.suppress(asyncio.CancelledError):
                await reports

    async def _refresh(self) -> None:
        try:
            answer = await self.link.call("GET", f"{API}/sites/{self.site}/discoveryprofiles")
        except AgentError as e:
            log.debug("discovery profiles not refreshed: %s", e)
            return
        self.apply(answer)
        try:
            write_private(self._profiles_file, json.dumps(answer).encode())
        except OSError as e:  # a full disk: scanning goes on, the next refresh writes it
            log.warning("discovery profiles not kept: %s", e)

    def apply(self, answer: object) -> None:
        """Start, restart and stop scanners to match the hub's answer."""
        wanted = _scans(answer)
        for scan, (digest, task) in list(self.scanners.items()):
            if wanted.get(scan, (None,))[0] != digest:
                task.cancel()
                del self.scanners[scan]
        for scan, (digest, profile) in wanted.items():
            if scan not in self.scanners:
                task = asyncio.create_task(self._scanner(scan, profile), name=str(scan))
                self.scanners[scan] = (digest, task)
        self.inventory.keep_only(set(wanted))
        self._changed.set()

    async def _scanner(self, scan: Scan, profile: Mapping[str, Any]) -> None:
        handler: Handler | None = None
        try:
            # Checked as the hub checks it: a profile kept in a file, or sent by an
            # older hub, is trusted no further (a negative interval would spin).
            handler, interval, grace, labels = _handler(scan[1], profile)
            while True:
                await self._scan_once(scan, handler, interval, labels, grace)
                await asyncio.sleep(interval)
        except Exception:
            log.exception("discovery %s/%s stopped", *scan)
        finally:
            if handler is not None:
                with contextlib.suppress(Exception):
                    await handler.close()

    async def _scan_once(
        self, scan: Scan, handler: Handler, interval: float, labels: Mapping[str, str], grace: float
    ) -> None:
        try:
            async with asyncio.timeout(interval):
                found = await handler.scan()
        except TimeoutError:
            log.warning("discovery %s/%s: a scan took longer than %g s", *scan, interval)
            self.inventory.missed(scan)  # what it saw ages through the grace period
            self._changed.set()
            return
        except Exception as e:  # the device's or the network's fault: next interval
            log.warning("discovery %s/%s: the scan failed: %s", *scan, e)
            self.inventory.missed(scan)
            self._changed.set()
            return
        self.inventory.saw(scan, found, labels, grace)
        self._changed.set()

    async def _reports(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPORT_IDLE_SECONDS):
                    await self._changed.wait()
            self._changed.clear()
            await self.report()
            await asyncio.sleep(REPORT_SECONDS)

    async def report(self) -> None:
        devices, left_out = fit(self.inventory.report(), REPORT_MAX_BYTES)
        if left_out:
            log.warning("%d discovered devices left out of the report (too large)", left_out)
        if not devices and self._told_empty:
            return  # 10,000 sites without discovery send nothing
        try:
            answer = await self.link.call(
                "POST", f"{API}/sites/{self.site}/devices", {"devices": devices}
            )
        except AgentError as e:
            log.debug("devices not reported: %s", e)
            self._changed.set()  # again next time
            return
        self.reported = answer if isinstance(answer, dict) else {}
        self._told_empty = not devices
        if self.reported.get("refused"):
            log.warning("the hub refused devices: %s", self.reported.get("refusals"))
        try:
            write_private(self._devices_file, json.dumps(self.inventory.dump()).encode())
        except OSError as e:
            log.warning("the device inventory not kept: %s", e)

    async def _stop_all(self) -> None:
        tasks = [task for _, task in self.scanners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.scanners.clear()


def _scans(answer: object) -> dict[Scan, tuple[str, Mapping[str, Any]]]:
    """Each (profile, protocol) the answer asks for: a digest of the profile's spec (a
    change restarts it) and the spec."""
    profiles = answer.get("profiles") if isinstance(answer, dict) else None
    found: dict[Scan, tuple[str, Mapping[str, Any]]] = {}
    for profile in (profiles if isinstance(profiles, list) else [])[:PROFILES_MAX]:
        if not isinstance(profile, dict) or not isinstance(profile.get("spec"), dict):
            continue
        name, spec = str(profile.get("name")), profile["spec"]
        for protocol in ("mqtt", "mdns", "opcua", "modbus", "onvif"):
            if isinstance(spec.get(protocol), dict):
                digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
                found[(name, protocol)] = (digest, spec)
    return found


def _handler(
    protocol: str, profile: Mapping[str, Any]
) -> tuple[Handler, float, float, dict[str, str]]:
    """The handler, its interval, grace period and labels, from the profile's spec
    checked as the hub checked it (ValueError when it is not valid)."""
    from pydantic import BaseModel

    from edgeplane.api import discovery  # loaded only where a profile asks for discovery

    spec = discovery.DiscoveryProfileSpec.model_validate(profile)
    params: BaseModel = spec.protocols()[protocol]
    labels = dict(spec.labels or {})
    handler = load(protocol)(params)
    return handler, float(spec.interval_seconds), float(spec.grace_period_seconds), labels


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
