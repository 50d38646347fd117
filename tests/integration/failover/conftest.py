"""Fixtures for the failover tests: a real hub whose SiteGroup gives the tests' sites a
short heartbeat (``harness.PERIOD``), proxies between agents and that hub (toxiproxy,
to cut a site off while its workloads run), and a fleet inside a network namespace
(real packet loss).

The ``toxiproxy`` and ``lossy_netns`` fixtures are the fault tests' own (skipped with
the reason where toxiproxy or nftables are missing, failing when ``CI=true``). Tests
that run a minute or more are marked ``slow``: ``-m "not slow"`` leaves them out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.failover.harness import site_group
from tests.integration.faults.conftest import lossy_netns, toxiproxy
from tests.support.fleet import Fleet
from tests.support.netns import LossyNamespace
from tests.support.ports import free_port
from tests.support.toxiproxy import Proxy, Toxiproxy

__all__ = ["lossy_netns", "toxiproxy"]  # fixtures, shared with tests/integration/faults


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a failover test of a minute or more")


def started(fleet: Fleet) -> Fleet:
    """The fleet's hub started, with the tests' SiteGroup."""
    fleet.start_hub()
    fleet.ok("POST", "/sitegroups", site_group())
    return fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    try:
        yield started(fleet)
    finally:
        fleet.close()


class Links:
    """One toxiproxy proxy per site between its agent and the hub."""

    def __init__(self, toxiproxy: Toxiproxy, fleet: Fleet) -> None:
        self.toxiproxy, self.fleet = toxiproxy, fleet
        self.proxies: dict[str, Proxy] = {}

    def add(self, site: str) -> Proxy:
        name = f"{site}-{uuid.uuid4().hex[:8]}"
        proxy = self.toxiproxy.proxy(name, f"127.0.0.1:{self.fleet.port}")
        self.proxies[site] = proxy
        return proxy

    def __getitem__(self, site: str) -> Proxy:
        return self.proxies[site]


@pytest.fixture
def links(toxiproxy: Toxiproxy, fleet: Fleet) -> Iterator[Links]:
    made = Links(toxiproxy, fleet)
    try:
        yield made
    finally:
        for proxy in made.proxies.values():
            toxiproxy.remove(proxy)


@pytest.fixture
def netns_fleet(lossy_netns: LossyNamespace, tmp_path: Path) -> Iterator[Fleet]:
    """A hub and its agents inside the namespace, on its loopback; the test reaches the
    hub through a forwarded port (whose inner leg suffers the namespace's loss too)."""
    port = free_port()
    with lossy_netns.forward(port) as outside:
        fleet = Fleet(
            tmp_path,
            wrap=lambda argv: lossy_netns.command(*argv),
            port=port,
            reached_at=f"http://127.0.0.1:{outside}",
        )
        try:
            yield started(fleet)
        finally:
            fleet.close()
