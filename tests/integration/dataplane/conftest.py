"""Fixtures for the data-sink tests: a real broker per test, ``nats`` and ``mosquitto``.

Each test gets a broker of its own (they start in a fraction of a second), so a test
that stops one disturbs no other. Debian's ``nats-server`` and ``mosquitto`` are needed:
``scripts/ensure-brokers`` installs them (run here when one is missing and we are
root). Without them the tests are skipped with the reason, or fail when ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.integration.agent.conftest import fleet
from tests.support.brokers import (
    ENSURE,
    Broker,
    BrokerUnavailable,
    find_binary,
    running_mosquitto,
    running_nats,
)

__all__ = ["fleet"]  # a real hub (SQLite); each test adds its agents

GUARDED_ACL = "topic readwrite edgeplane/#\n"
"""Anonymous clients may use edgeplane/# only: a publish elsewhere draws a refusing
PUBACK (reason 0x87, not authorized)."""


def unavailable(what: str, reason: object) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI (CI=true): {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture(scope="session")
def installed_brokers() -> None:
    """Once per session, as root: install what is missing (the fixtures below skip or
    fail, with the reason, when it is still missing)."""
    try:
        for name in ("nats-server", "mosquitto"):
            find_binary(name)
    except BrokerUnavailable:
        if os.geteuid() == 0:
            subprocess.run([str(ENSURE)], check=False)


@pytest.fixture
def nats(installed_brokers: None) -> Iterator[Broker]:
    """nats-server with JetStream on a free loopback port; ``url`` is nats://…"""
    try:
        with running_nats() as broker:
            yield broker
    except BrokerUnavailable as e:
        unavailable("nats-server", e)


@pytest.fixture
def mosquitto(installed_brokers: None) -> Iterator[Broker]:
    """mosquitto on a free loopback port, anonymous; ``address`` is (host, port)."""
    try:
        with running_mosquitto() as broker:
            yield broker
    except BrokerUnavailable as e:
        unavailable("mosquitto", e)


@pytest.fixture
def guarded_mosquitto(installed_brokers: None) -> Iterator[Broker]:
    """mosquitto whose ACL (``GUARDED_ACL``) lets anonymous clients use edgeplane/# only."""
    try:
        with running_mosquitto(acl=GUARDED_ACL) as broker:
            yield broker
    except BrokerUnavailable as e:
        unavailable("mosquitto", e)
