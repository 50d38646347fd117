"""What the rollout tests share: sites in SiteGroups with a short heartbeat, the demo
service in versions that write down each start (a ledger), the application with its
``spec.rollout``, readings of the hub (the rollout status, which revision each site is
told to run and whether it is Ready there) and a ``Sampler`` that keeps reading them on
a thread while a rollout runs, so a test can say what never happened (a site beyond the
canary told to run v2, more sites unavailable than the budget) over the whole rollout.

Neighbours: ``conftest`` (fixtures), ``tests.support.fleet`` (the hub and agents).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.fleet import DEMO_SERVICE, TRANSIENT, Fleet, demo_app, tarball, wait_for
from tests.support.waiting import wait_until

PERIOD = 0.5
"""The sites' heartbeat period (their SiteGroup's): a stopped agent's site goes
Offline within a few seconds."""
ALL = "rollout-sites"
MEMBER = {"rollout-test": "yes"}
CANARY, EARLY, WINDOWED = "canary-sites", "early-sites", "windowed-sites"
APP = "web"
V1, V2, V3, BAD, GATE_FAILS = "1.0.0", "2.0.0", "3.0.0", "9.0.0", "8.0.0"
"""Versions of the demo service; ``BAD`` exits 1 as soon as it starts, ``GATE_FAILS``
runs and is healthy but answers ``GET /gate`` with 503."""
TERMINAL = frozenset({"Succeeded", "RolledBack", "Aborted", "Failed"})
PATIENCE = 60.0


def site_group(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels}, **spec},
    }


def groups(fleet: Fleet) -> None:
    """Every test site in ``ALL`` (a short heartbeat), canary and early ones by label."""
    fleet.ok("POST", "/sitegroups", site_group(ALL, MEMBER, health={"heartbeatSeconds": PERIOD}))
    fleet.ok("POST", "/sitegroups", site_group(CANARY, {"ring": "canary"}))
    fleet.ok("POST", "/sitegroups", site_group(EARLY, {"ring": "early"}))


def closed_window(now: datetime | None = None) -> dict[str, Any]:
    """A daily one-minute window twelve hours from now: closed for the whole test."""
    opens = (now or datetime.now(UTC)) + timedelta(hours=12)
    return {"schedule": f"{opens.minute} {opens.hour} * * *", "durationMinutes": 1}


def join(fleet: Fleet, name: str, ring: str | None = None, **labels: str) -> None:
    """A test site joins (in ``ring``: canary, early; with ``labels``) and is Online."""
    fleet.add_agent(name, {**MEMBER, **({"ring": ring} if ring else {}), **labels})
    wait_for(lambda: fleet.site_phase(name) == "Online", f"{name} Online")


# ---- the demo service, with a ledger -------------------------------------------------


def ledgered(ledger: Path, version: str) -> bytes:
    """The demo service at ``version``, whose every start appends ``site version time``
    to ``ledger`` first; ``BAD`` then exits 1."""
    record = (
        "import os as _os, time as _time\n"
        f"with open({str(ledger)!r}, 'a') as _ledger:\n"
        "    _ledger.write(f\"{_os.environ.get('EDGEPLANE_SITE')} "
        f'{version} {{_time.time()}}\\n")\n'
    )
    if version == BAD:
        record += "raise SystemExit(1)\n"
    server = record + (DEMO_SERVICE / "server.py").read_text()
    if version == GATE_FAILS:
        healthz = '        if self.path == "/healthz":\n'
        assert healthz in server, "the demo service's handler changed: update the harness"
        refuse = '        if self.path == "/gate":\n            return self.send_error(503)\n'
        server = server.replace(healthz, refuse + healthz)
    return tarball(DEMO_SERVICE, {"VERSION": f"{version}\n", "server.py": server})


def push_versions(fleet: Fleet, ledger: Path, *versions: str) -> None:
    for version in versions:
        fleet.push_artifact("demo-service", version, ledgered(ledger, version))


@dataclass(frozen=True)
class Start:
    site: str
    version: str
    at: float


def starts(ledger: Path) -> list[Start]:
    if not ledger.exists():
        return []
    found = []
    for line in ledger.read_text().splitlines():
        site, version, at = line.split()
        found.append(Start(site, version, float(at)))
    return found


def ran(ledger: Path, version: str) -> set[str]:
    """The sites that ever started ``version``."""
    return {s.site for s in starts(ledger) if s.version == version}


# ---- the application -----------------------------------------------------------------


def app(version: str, **rollout: Any) -> dict[str, Any]:
    """The demo service at ``version`` on every test site, with ``spec.rollout``."""
    made = demo_app(APP, version, mode="EverySite", siteGroups=[ALL])
    made["spec"]["rollout"] = rollout
    return made


def deploy(fleet: Fleet, version: str, sites: set[str], **rollout: Any) -> None:
    """The first revision, everywhere at once (an initial deploy is not rolled out)."""
    fleet.ok("POST", "/applications", app(version, **rollout))
    wait_for(lambda: at_revision(fleet, sites, 1), f"{APP} revision 1 Ready at {sorted(sites)}")


def update(fleet: Fleet, version: str, **rollout: Any) -> None:
    fleet.ok("PUT", f"/applications/{APP}", app(version, **rollout))


def act(fleet: Fleet, action: str, **body: Any) -> dict[str, Any]:
    answer = fleet.ok("POST", f"/applications/{APP}/rollout", {"action": action, **body})
    return dict(answer or {})


def rollout(fleet: Fleet) -> dict[str, Any]:
    """``status.rollout`` of the application ({} before there is one)."""
    status = fleet.ok("GET", f"/applications/{APP}").get("status") or {}
    return dict(status.get("rollout") or {})


def settled(fleet: Fleet, target: int, timeout: float = PATIENCE) -> dict[str, Any]:
    """The rollout status once the rollout to ``target`` reached a terminal phase."""
    return wait_until(
        lambda: r if (r := rollout(fleet)).get("revision") == target and done(r) else None,
        f"the rollout to revision {target} finished",
        timeout,
        every=0.2,
        ignore=TRANSIENT,
        seen=lambda: {"rollout": rollout(fleet), "sites": revisions(fleet)},
    )


def done(status: dict[str, Any]) -> bool:
    return status.get("phase") in TERMINAL


def ready(item: dict[str, Any]) -> bool:
    """Ready as the rollout counts it: Running, every replica ready, at this generation."""
    status = item.get("status") or {}
    return (
        status.get("phase") == "Running"
        and status.get("ready") == item["spec"].get("replicas", 1)
        and status.get("observedGeneration") == item["metadata"]["generation"]
    )


def revisions(fleet: Fleet) -> dict[str, tuple[int, bool]]:
    """Site -> (the revision its assignment names, Ready there)."""
    return {s: (int(a["spec"]["revision"]), ready(a)) for s, a in fleet.assignments(APP).items()}


def at_revision(fleet: Fleet, sites: set[str], revision: int) -> bool:
    held = revisions(fleet)
    return all(held.get(s) == (revision, True) for s in sites)


# ---- a sampler -------------------------------------------------------------------------


@dataclass
class Sampler:
    """Reads the application's assignments on a thread, every ``every`` seconds, until
    the ``with`` block ends: the most sites not Ready at once, and every revision each
    site was told to run (with when it was first seen)."""

    fleet: Fleet
    every: float = 0.1
    samples: int = 0
    most_unready: int = 0
    seen: dict[tuple[str, int], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="rollout-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.look()
            except TRANSIENT:
                continue  # a look the hub did not answer: the next one counts

    def look(self) -> None:
        held = revisions(self.fleet)
        self.samples += 1
        self.most_unready = max(self.most_unready, sum(1 for _, ok in held.values() if not ok))
        for site, (revision, _) in held.items():
            self.seen.setdefault((site, revision), time.time())

    def told(self, revision: int) -> set[str]:
        """The sites ever told to run ``revision``."""
        return {site for site, r in self.seen if r == revision}


def wait_status(
    fleet: Fleet, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = PATIENCE
) -> dict[str, Any]:
    """The rollout status once ``check`` holds for it."""
    return wait_for(lambda: r if check(r := rollout(fleet)) else None, what, timeout)


def passes(fleet: Fleet) -> float:
    """How many placement passes the hub ran (its ``/metrics``): a test that must know
    the hub looked at something again waits for this to grow."""
    headers = {"Authorization": f"Bearer {fleet.token}"}
    text = httpx.get(f"{fleet.url}/metrics", headers=headers, timeout=30).text
    found = re.search(r"^edgeplane_placement_passes_total (\S+)$", text, re.M)
    assert found is not None, "the hub's /metrics has no edgeplane_placement_passes_total"
    return float(found.group(1))
