"""The per-request shortcuts of the middleware keep every behaviour: a percent-encoded
``watch`` is still a watch, peers of one IPv6 /64 still share a key, a refusal still
names the limit, and metrics still count each request (the middleware runs against
real hubs in tests/security)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest

from edgeplane.hub import metrics as metrics_module
from edgeplane.hub.auth import Principal
from edgeplane.hub.limits import Limits
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.throttle import ThrottleMiddleware, TooMany, _is_watch, _peer


def scope(method: str = "GET", query: bytes = b"", client: str = "127.0.0.1") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1alpha1/sites/s1/status",
        "query_string": query,
        "client": (client, 4000),
    }


@pytest.mark.parametrize(
    ("method", "query", "watch"),
    [
        ("GET", b"", False),
        ("GET", b"resourceVersion=5&limit=10", False),
        ("GET", b"watch=true", True),
        ("GET", b"watch=0&watch=yes", True),
        ("GET", b"w%61tch=true", True),
        ("GET", b"watch=%74rue", True),
        ("GET", b"labelSelector=watch", False),
        ("POST", b"watch=true", False),
    ],
    ids=[
        "none",
        "other-fields",
        "watch",
        "repeated",
        "encoded-key",
        "encoded-value",
        "in-value",
        "post",
    ],
)
def test_a_watch_is_recognised_however_it_is_written(
    method: str, query: bytes, watch: bool
) -> None:
    assert _is_watch(scope(method, query)) is watch


def test_peers_of_one_ipv6_64_share_a_key_with_the_cache_as_without() -> None:
    one, two = _peer(scope(client="2001:db8::1")), _peer(scope(client="2001:db8::ffff"))
    assert one == two == "2001:db8::/64"
    assert _peer(scope(client="::ffff:10.0.0.1")) == "10.0.0.1"


async def test_a_refusal_still_names_who_the_limit_and_the_flag() -> None:
    limits = Limits(site_rate=0.001, site_burst=1)
    middleware = ThrottleMiddleware(_never, limits)
    site = Principal("edge-7", "site")
    middleware._check_rate(scope(), site)
    with pytest.raises(TooMany) as refused:
        middleware._check_rate(scope(), site)
    message = str(refused.value.message)
    assert 'site "edge-7"' in message and "--site-rate" in message
    assert refused.value.setting == "site_rate"


async def test_a_status_write_refusal_names_the_status_limit() -> None:
    limits = Limits(status_rate=0.001, status_burst=1)
    middleware = ThrottleMiddleware(_never, limits)
    site = Principal("edge-7", "site")
    middleware._check_rate(scope("PATCH"), site)
    with pytest.raises(TooMany) as refused:
        middleware._check_rate(scope("PATCH"), site)
    assert refused.value.setting == "status_rate" and "status writes" in refused.value.message


def test_metrics_count_every_request_with_the_children_cached() -> None:
    metrics = HubMetrics()
    for status in (200, 200, 404):
        metrics.observe("GET", "/api/v1alpha1/{plural}/{name}", status, 0.003)
    text = generate_latest(metrics.registry).decode()
    assert 'route="/api/v1alpha1/{plural}/{name}",status="200"} 2.0' in text
    assert 'route="/api/v1alpha1/{plural}/{name}",status="404"} 1.0' in text
    assert 'edgeplane_http_request_duration_seconds_count{method="GET"' in text


def test_the_cache_of_children_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "CHILDREN_CACHED", 5)
    metrics = HubMetrics()
    for i in range(50):  # the method is the client's: any token
        metrics.observe(f"M{i}", "unmatched", 405, 0.001)
    assert len(metrics._children) == 5
    assert 'method="M49"' in generate_latest(metrics.registry).decode(), "counted all the same"


async def _never(*_: Any) -> None:
    raise AssertionError("not called")
