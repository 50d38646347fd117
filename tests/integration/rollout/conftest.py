"""Fixtures for the rollout tests: a real hub with the tests' SiteGroups (every site
heartbeating every ``harness.PERIOD``; canary and early rings by label), and the
ledger the demo service's versions write each start to.

Each test joins its own agents. Tests that run a minute or more would be marked
``slow`` (``-m "not slow"`` leaves them out); the marker is registered here as in
``tests/integration/failover``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rollout.harness import groups
from tests.support.fleet import Fleet


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a rollout test of a minute or more")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    try:
        fleet.start_hub()
        groups(fleet)
        yield fleet
    finally:
        fleet.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """Where every start of the demo service is written down (``harness.starts``)."""
    return tmp_path / "ledger.txt"
