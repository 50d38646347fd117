"""The adversarial suite: each module tries one class of attack on a real hub (and,
where the attack is on the site, a real agent) and checks that it is refused, bounded
or contained, and that the store is left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agent.conftest import fleet  # the same real hub for agents
from tests.support.hub import HubProcess, running_hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    """A real hub process on SQLite, on a free loopback port."""
    data = tmp_path / "hub"
    data.mkdir()
    with running_hub(data) as process:
        yield process


__all__ = ["fleet", "hub"]
