"""Failover timing (``health.failover``), table by table: when a lost site's replicas
may move, fenced or not, the terms an application's ``spec.failover`` sets, and the
status event that says why."""

from __future__ import annotations

import math

import pytest

from edgeplane.api.applications import Failover
from edgeplane.api.leases import LEASE_MARGIN_SECONDS
from edgeplane.health.failback import DEFAULT_HOLD_DOWN_SECONDS
from edgeplane.health.failover import (
    DEFAULT_AFTER_SECONDS,
    Terms,
    due_at,
    is_due,
    terms_of,
    why,
)

HEARD = 1_000.0
LEASE = 30.0  # a site heartbeating every 10 s holds a 30 s lease
FREE, STRICT = Terms(), Terms(strict=True)


@pytest.mark.parametrize(
    ("terms", "lease", "expected"),
    [
        (FREE, LEASE, HEARD + DEFAULT_AFTER_SECONDS),
        (Terms(after_seconds=60.0), LEASE, HEARD + 60.0),
        (STRICT, LEASE, HEARD + LEASE + LEASE_MARGIN_SECONDS),
        (Terms(after_seconds=60.0, strict=True), LEASE, HEARD + 60.0),
        (Terms(after_seconds=0.0), LEASE, HEARD),
        (STRICT, 3.0, HEARD + DEFAULT_AFTER_SECONDS),
    ],
    ids=[
        "free-moves-after-afterSeconds",
        "free-longer-afterSeconds",
        "strict-waits-for-the-lease-and-margin",
        "strict-afterSeconds-past-the-lease",
        "free-at-once",
        "strict-short-lease-within-afterSeconds",
    ],
)
def test_due_at(terms: Terms, lease: float, expected: float) -> None:
    assert due_at(HEARD, terms, lease) == expected


@pytest.mark.parametrize(
    ("last_heard", "terms", "now", "expected"),
    [
        (HEARD, FREE, HEARD + DEFAULT_AFTER_SECONDS - 0.1, False),
        (HEARD, FREE, HEARD + DEFAULT_AFTER_SECONDS, True),
        (HEARD, STRICT, HEARD + DEFAULT_AFTER_SECONDS, False),
        (HEARD, STRICT, HEARD + LEASE, False),
        (HEARD, STRICT, HEARD + LEASE + LEASE_MARGIN_SECONDS - 0.1, False),
        (HEARD, STRICT, HEARD + LEASE + LEASE_MARGIN_SECONDS, True),
        (None, STRICT, HEARD, True),
        (None, FREE, HEARD, True),
    ],
    ids=[
        "free-just-before",
        "free-at-afterSeconds",
        "strict-not-at-afterSeconds",
        "strict-not-when-the-lease-ends",
        "strict-not-within-the-margin",
        "strict-after-the-margin",
        "strict-never-heard",
        "free-never-heard",
    ],
)
def test_is_due(last_heard: float | None, terms: Terms, now: float, expected: bool) -> None:
    assert is_due(last_heard, terms, LEASE, now) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, Terms()),
        ({}, Terms()),
        ({"afterSeconds": 12}, Terms(after_seconds=12.0)),
        ({"fencing": "Strict"}, Terms(strict=True)),
        ({"fencing": "None"}, Terms(strict=False)),
        (
            {"failback": True, "holdDownSeconds": 300},
            Terms(failback=True, hold_down_seconds=300.0),
        ),
    ],
    ids=["no-failover", "empty", "afterSeconds", "strict", "fencing-none", "failback"],
)
def test_terms_of_a_spec(spec: dict[str, object] | None, expected: Terms) -> None:
    failover = None if spec is None else Failover.model_validate(spec)
    assert terms_of(failover) == expected


def test_the_defaults() -> None:
    assert Terms() == Terms(DEFAULT_AFTER_SECONDS, False, False, DEFAULT_HOLD_DOWN_SECONDS)


@pytest.mark.parametrize(
    ("to", "silent", "expected"),
    [
        (["b"], 12.4, "failed over from a to b: no heartbeat for 12 s"),
        (["b", "c"], 7.0, "failed over from a to b, c: no heartbeat for 7 s"),
        ([], 31.0, "failed over from a: no heartbeat for 31 s"),
        (["b"], math.inf, "failed over from a to b: never heard from"),
    ],
    ids=["one-site", "several-sites", "nowhere-yet", "never-heard"],
)
def test_why(to: list[str], silent: float, expected: str) -> None:
    assert why("a", to, silent) == expected
