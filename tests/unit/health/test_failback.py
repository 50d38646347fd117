"""Failback timing (``health.failback``), table by table: the hold-down and its
hysteresis for a flapping site, when replicas may move back, and the bounded history
of returns."""

from __future__ import annotations

import pytest

from edgeplane.health.failback import (
    DEFAULT_HOLD_DOWN_SECONDS,
    FLAP_WINDOW_SECONDS,
    MAX_HOLD_DOWN_FACTOR,
    back_at,
    hold_down,
    may_fail_back,
    record_return,
)

BASE = DEFAULT_HOLD_DOWN_SECONDS
NOW = 10_000.0


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ((), BASE),
        ((NOW - 10,), BASE),
        ((NOW - 200, NOW - 10), 2 * BASE),
        ((NOW - 400, NOW - 200, NOW - 10), 4 * BASE),
        ((NOW - 500, NOW - 400, NOW - 200, NOW - 10), 8 * BASE),
        (tuple(NOW - 50 * k for k in range(10)), MAX_HOLD_DOWN_FACTOR * BASE),
        ((NOW - 11 - FLAP_WINDOW_SECONDS, NOW - 800, NOW - 10), BASE),
        ((NOW - 10 - FLAP_WINDOW_SECONDS, NOW - 10), 2 * BASE),
    ],
    ids=[
        "never-returned",
        "one-return",
        "two-returns",
        "three-returns-four-times",
        "four-returns-eight-times",
        "capped",
        "returns-older-than-the-window-do-not-count",
        "a-return-at-the-window-edge-counts",
    ],
)
def test_hold_down(returns: tuple[float, ...], expected: float) -> None:
    assert hold_down(BASE, returns, NOW) == expected


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ((), None),
        ((NOW - 10,), NOW - 10 + BASE),
        ((NOW - 400, NOW - 200, NOW - 10), NOW - 10 + 4 * BASE),
    ],
    ids=["never-returned", "one-return", "flapping"],
)
def test_back_at(returns: tuple[float, ...], expected: float | None) -> None:
    assert back_at(returns, BASE, NOW) == expected


FLAPPED = (0.0, 240.0, 480.0)  # three returns within ten minutes


@pytest.mark.parametrize(
    ("online", "returns", "now", "expected"),
    [
        (True, (0.0,), BASE - 1, False),
        (True, (0.0,), BASE, True),
        (False, (0.0,), 10 * BASE, False),
        (True, (), 0.0, True),
        (False, (), 0.0, False),
        (True, FLAPPED, 480.0 + BASE, False),
        (True, FLAPPED, 480.0 + 4 * BASE - 1, False),
        (True, FLAPPED, 480.0 + 4 * BASE, True),
    ],
    ids=[
        "within-the-hold-down",
        "at-the-hold-down",
        "offline",
        "online-never-lost",
        "offline-never-lost",
        "flapping-not-after-the-base",
        "flapping-not-before-four-times",
        "flapping-after-four-times",
    ],
)
def test_may_fail_back(
    online: bool, returns: tuple[float, ...], now: float, expected: bool
) -> None:
    assert may_fail_back(online, returns, BASE, now) is expected


def test_a_flapping_site_waits_the_full_hold_down_as_its_returns_age() -> None:
    """The first return leaves the window (at 600 s) before the four bases end (at
    720 s): the hold-down is the one the latest return earned, and allowed stays
    allowed."""
    verdicts = [may_fail_back(True, FLAPPED, BASE, now) for now in range(480, 2000, 10)]
    first = verdicts.index(True)
    assert 480 + 10 * first == 480.0 + 4 * BASE
    assert all(verdicts[first:])


@pytest.mark.parametrize(
    ("returns", "at", "keep", "expected"),
    [
        ((), 5.0, 10, (5.0,)),
        ((1.0, 2.0), 5.0, 10, (1.0, 2.0, 5.0)),
        ((1.0, 2.0, 3.0), 5.0, 3, (2.0, 3.0, 5.0)),
        ((1.0, 2.0, 3.0), 5.0, 1, (5.0,)),
        ((1.0, 5.0), 5.0, 10, (1.0, 5.0)),
        ((1.0, 5.0), 4.0, 10, (1.0, 5.0)),
        ((1.0, 2.0, 3.0), 3.0, 2, (2.0, 3.0)),
    ],
    ids=[
        "first",
        "appended",
        "oldest-dropped",
        "keep-one",
        "same-return-twice",
        "older-than-the-last",
        "seen-twice-still-bounded",
    ],
)
def test_record_return(
    returns: tuple[float, ...], at: float, keep: int, expected: tuple[float, ...]
) -> None:
    assert record_return(returns, at, keep) == expected


def test_the_history_of_returns_stays_bounded() -> None:
    returns: tuple[float, ...] = ()
    for at in range(1000):
        returns = record_return(returns, float(at))
    assert returns == tuple(float(at) for at in range(990, 1000))


def test_keeping_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="keep at least one"):
        record_return((), 1.0, keep=0)
