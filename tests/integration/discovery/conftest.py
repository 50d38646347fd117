"""Fixtures for the discovery tests, shared with their neighbours: a real mosquitto per
test (``mosquitto``, from the data-sink tests: Debian's broker, installed by
``scripts/ensure-brokers`` when missing; skipped with the reason without it, failed when
``CI=true``) and a real hub (``fleet``, from the agent tests)."""

from __future__ import annotations

from tests.integration.agent.conftest import fleet
from tests.integration.dataplane.conftest import installed_brokers, mosquitto

__all__ = ["fleet", "installed_brokers", "mosquitto"]
