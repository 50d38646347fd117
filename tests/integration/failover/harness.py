"""What the failover tests share: the SiteGroup that gives their sites a short
heartbeat, the ledger application, and readings of the hub (where a replica runs, an
application's events, a site's phase and returns, the hub's counters).

``Watch`` samples a reading on a thread while a fault runs, so a test can say what was
never seen (a site Offline, a replica at home) over the whole fault, not only at its
end. Neighbours: ``conftest`` (fixtures), ``ledger`` (the workload), ``tests.support``.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from edgeplane.health.liveness import parse_stamp
from tests.support.fleet import TRANSIENT, Fleet, wait_for

T = TypeVar("T")
PERIOD = 0.5
"""The sites' heartbeat period (their SiteGroup's): a 3 s lease, a stopped site with a
settled history suspected after about 1.7 s."""
GROUP = "failover-sites"
MEMBER = {"failover-test": "yes"}
LEDGER = Path(__file__).with_name("ledger.py")


def site_group(period: float = PERIOD) -> dict[str, Any]:
    """The SiteGroup over every site of these tests, heartbeating every ``period``."""
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": GROUP},
        "spec": {"selector": {"matchLabels": MEMBER}, "health": {"heartbeatSeconds": period}},
    }


def ledger_app(name: str, ledger: Path, **failover: Any) -> dict[str, Any]:
    """One replica of the ledger workload writing to ``ledger``, with ``failover``."""
    process = {"command": sys.executable, "args": [str(LEDGER), str(ledger)]}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {**process, "terminationGracePeriodSeconds": 2}},
            "resources": {"cpu": "100m", "memory": "16Mi"},
            "placement": {"mode": "Replicas", "replicas": 1},
            "failover": failover,
        },
    }


def join(fleet: Fleet, name: str, hub_url: str | None = None) -> None:
    """A site of the group joins (through ``hub_url``, a proxy, when given) and is Online."""
    fleet.add_agent(name, {**MEMBER, "site": name}, hub_url=hub_url)
    wait_for(lambda: fleet.site_phase(name) == "Online", f"{name} Online")


def running_at(fleet: Fleet, app: str) -> str | None:
    """The one site ``app`` is assigned to, once its replica is Running and ready there."""
    found = fleet.assignments(app)
    if len(found) != 1:
        return None
    ((site, item),) = found.items()
    status = item.get("status") or {}
    return site if status.get("phase") == "Running" and status.get("ready") == 1 else None


def moved_from(fleet: Fleet, app: str, home: str) -> str | None:
    """The site ``app`` runs at once it runs somewhere other than ``home``."""
    site = running_at(fleet, app)
    return site if site not in (None, home) else None


def events(fleet: Fleet, app: str, reason: str) -> list[str]:
    """The messages of the application's status events with ``reason``."""
    status = fleet.ok("GET", f"/applications/{app}").get("status") or {}
    return [e["message"] for e in status.get("events") or [] if e["reason"] == reason]


def site_status(fleet: Fleet, name: str) -> dict[str, Any]:
    return dict(fleet.ok("GET", f"/sites/{name}").get("status") or {})


def reachable(status: dict[str, Any]) -> dict[str, Any]:
    """The site's ``Reachable`` condition."""
    found = [c for c in status.get("conditions") or [] if c.get("type") == "Reachable"]
    assert len(found) == 1, status
    return dict(found[0])


def latest_return(fleet: Fleet, name: str, after: float | None = None) -> float | None:
    """When the site last came back (the hub's stamp), once one is newer than ``after``."""
    stamps = site_status(fleet, name).get("returns") or []
    latest = parse_stamp(stamps[-1]) if stamps else None
    return latest if latest is not None and (after is None or latest > after) else None


def hub_counter(fleet: Fleet, name: str, **labels: str) -> float:
    """A counter of the hub's ``/metrics`` summed over the series with ``labels``."""
    text = httpx.get(f"{fleet.url}/metrics", headers=_admin(fleet), timeout=30).text
    total = 0.0
    # Label values may hold braces (routes such as /sites/{site}/heartbeat).
    for series, value in re.findall(rf'^{name}\{{((?:[^"}}]|"[^"]*")*)\}} (\S+)$', text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def _admin(fleet: Fleet) -> dict[str, str]:
    return {"Authorization": f"Bearer {fleet.token}"}


def pass_hub_time(at: float) -> float:
    """Let the clock pass ``at`` (a hub stamp: same host, same clock). A fault's schedule
    (how long a site stays up between cuts), not a wait for a state."""
    return wait_for(lambda: (now := time.time()) > at and now, f"the clock past {at:.1f}", 120)


class Watch(Generic[T]):
    """Samples ``look()`` every ``every`` seconds on a thread while the block runs;
    ``seen`` holds (time, value) of each sample that answered, ``missed`` the errors of
    those that did not (a hub slowed or cut off by a fault may not answer, or answer an
    error: ``Fleet.ok`` asserts)."""

    def __init__(self, look: Callable[[], T], every: float = 0.2) -> None:
        self.look, self.every = look, every
        self.seen: list[tuple[float, T]] = []
        self.missed: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def values(self) -> list[T]:
        return [value for _, value in self.seen]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append((time.time(), self.look()))
            except (*TRANSIENT, AssertionError) as e:  # one sample lost; the next counts
                self.missed.append(e)
            self._stop.wait(self.every)  # the sampling rate, not a wait for a state

    def __enter__(self) -> Watch[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
