"""The uplink budget's token bucket (``dataplane.bucket``), on a given clock."""

from __future__ import annotations

import pytest

from edgeplane.dataplane.bucket import TokenBucket


def test_a_full_bucket_sends_a_burst_then_waits_at_the_rate() -> None:
    bucket = TokenBucket(rate=1000.0, burst=500.0)
    assert bucket.take(500, now=0.0) == 0.0
    assert bucket.take(250, now=0.0) == pytest.approx(0.25)  # in debt: wait for it
    assert bucket.take(250, now=0.0) == pytest.approx(0.5)  # and behind that debt
    assert bucket.wait_for(100, now=0.5) == pytest.approx(0.1)


def test_over_a_long_stretch_no_more_than_the_rate_plus_a_burst_goes() -> None:
    bucket, now, sent = TokenBucket(rate=125_000.0, burst=125_000.0), 0.0, 0
    while now < 60.0:
        now += bucket.take(12_500, now)
        sent += 12_500
    assert sent <= 125_000 * 60 + 125_000 + 12_500


def test_idle_time_refills_only_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=20.0)
    bucket.take(20, now=0.0)
    assert bucket.wait_for(20, now=1000.0) == 0.0
    assert bucket.take(30, now=1000.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 5.0)])
def test_a_budget_must_be_positive(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="positive rate and burst"):
        TokenBucket(rate, burst)
