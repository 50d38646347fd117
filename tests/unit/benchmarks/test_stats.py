"""benchmarks/support/stats: percentiles and folding per-period load lines."""

from __future__ import annotations

import math

import pytest

from benchmarks.support.stats import Hold, fold, held, percentile, rounded, why_not_held


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 3.0, 2.0, 1.0], 100, 4.0),
        (list(map(float, range(1, 101))), 99, 99.0),
        (list(map(float, range(1, 101))), 50, 50.0),
        (list(map(float, range(1, 1001))), 99, 990.0),
    ],
    ids=["one-p50", "one-p99", "four-p50", "unsorted-max", "hundred-p99", "hundred-p50", "k-p99"],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="percentile in"):
        percentile([1.0], 0)
    with pytest.raises(ValueError, match="percentile in"):
        percentile([1.0], 101)


def line(sent: int, p50: float | None, p99: float | None, **more: float) -> dict[str, object]:
    return {"hb_sent": sent, "hb_errors": 0, "hb_p50_ms": p50, "hb_p99_ms": p99, **more}


def test_fold_takes_median_p50_worst_p99_and_sums_counts() -> None:
    lines = [
        line(500, 3.0, 20.0, connected=1000, cpu_seconds=10.0, t=100.0),
        line(500, 5.0, 90.0, connected=999, cpu_seconds=11.0, t=105.0),
        line(500, 4.0, 30.0, connected=1000, cpu_seconds=12.5, t=110.0),
        line(0, None, None, connected=1000, cpu_seconds=12.5, t=115.0),
    ]
    hold = fold(lines)
    assert hold == Hold(
        periods=4,
        sent=1500,
        errors=0,
        p50_ms=4.0,
        p99_ms=90.0,
        connected_min=999,
        cpu_seconds=2.5,
        span_seconds=15.0,
    )
    assert hold.cpu_percent == pytest.approx(100 * 2.5 / 15)


def test_fold_of_no_heartbeat_has_no_latency() -> None:
    hold = fold([line(0, None, None)])
    assert hold.sent == 0 and math.isnan(hold.p99_ms) and math.isnan(hold.p50_ms)


GOOD = Hold(
    periods=12, sent=60000, errors=0, p50_ms=3, p99_ms=40, connected_min=10000, cpu_seconds=30
)


@pytest.mark.parametrize(
    ("hold", "false_offline", "expected"),
    [
        (GOOD, 0, True),
        (GOOD, 1, False),
        (Hold(12, 60000, 0, 3, 100.0, 10000, 30), 0, False),
        (Hold(12, 60000, 3, 3, 40, 10000, 30), 0, False),
        (Hold(12, 60000, 0, 3, 40, 9999, 30), 0, False),
        (Hold(12, 0, 0, math.nan, math.nan, 10000, 30), 0, False),
    ],
    ids=["good", "false-offline", "p99-at-goal", "errors", "one-not-connected", "no-heartbeats"],
)
def test_held_needs_every_condition(hold: Hold, false_offline: int, expected: bool) -> None:
    assert held(hold, 10000, false_offline) is expected


def test_rounded_turns_nan_into_null() -> None:
    assert rounded(math.nan) is None
    assert rounded(1.26, 1) == 1.3


def test_why_not_held_names_the_first_failed_condition() -> None:
    assert why_not_held(GOOD, 10000, 0) is None
    assert why_not_held(GOOD, 10000, 2) == "2 sites falsely Offline"
    slow = Hold(12, 60000, 0, 3, 140.4, 10000, 30)
    assert why_not_held(slow, 10000, 0) == "p99 140 ms >= 100 ms"
