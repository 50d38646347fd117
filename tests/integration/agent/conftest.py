"""A hub for the agent integration tests; each test starts its own agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fleet import Fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()
