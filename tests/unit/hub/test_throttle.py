"""Token buckets and their bounded table (the middleware is tested against a real hub
in tests/security/test_exhaustion.py)."""

from __future__ import annotations

import pytest

from edgeplane.hub import throttle
from edgeplane.hub.throttle import Buckets, TokenBucket


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, tokens=3, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, tokens=0, stamp=0.0)
    assert bucket.take(0.5) == 0.0  # one token came back in half a second
    assert bucket.take(0.5) > 0
    bucket.take(100.0)
    assert bucket.tokens == pytest.approx(2.0)  # refilled to 3, one taken


def test_the_table_of_buckets_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_BUCKETS", 10)
    buckets = Buckets(rate=1.0, burst=1)
    for i in range(100):
        buckets.take(f"peer-{i}")
    assert len(buckets._buckets) == 10
    assert "peer-99" in buckets._buckets and "peer-0" not in buckets._buckets
