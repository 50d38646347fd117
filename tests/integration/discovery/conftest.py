"""Fixtures for the discovery tests: a real mosquitto per test (``mosquitto``).

Each test gets a broker of its own (it starts in a fraction of a second), so a test
that stops one disturbs no other. Debian's ``mosquitto`` is needed:
``scripts/ensure-brokers`` installs it (run here when it is missing and we are root).
Without it the tests are skipped with the reason, or fail when ``CI=true``. The same
arrangement as ``tests/integration/dataplane/conftest.py``, without its hub.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.brokers import (
    ENSURE,
    Broker,
    BrokerUnavailable,
    find_binary,
    running_mosquitto,
)


@pytest.fixture(scope="session")
def installed_mosquitto() -> None:
    """Once per session, as root: install mosquitto when it is missing."""
    try:
        find_binary("mosquitto")
    except BrokerUnavailable:
        if os.geteuid() == 0:
            subprocess.run([str(ENSURE)], check=False)


@pytest.fixture
def mosquitto(installed_mosquitto: None) -> Iterator[Broker]:
    """mosquitto on a free loopback port, anonymous; ``url`` is mqtt://127.0.0.1:<port>."""
    try:
        with running_mosquitto() as broker:
            yield broker
    except BrokerUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mosquitto is required in CI (CI=true): {e}")
        pytest.skip(f"mosquitto unavailable: {e}")
