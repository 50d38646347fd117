"""The toxiproxy harness itself, on a line echo server: each fault does what it says.

No test measures time: latency and bandwidth are checked by an answer arriving and by
the API listing the toxic, partitions by a short client timeout running out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.integration.faults.echo import HOST, ask, echo_server
from tests.support.toxiproxy import Proxy, Stream, Toxiproxy
from tests.support.waiting import wait_until

SHORT = 0.5
"""A client timeout that a stalled connection runs out of."""
Fault = Callable[[Proxy], Proxy]


@pytest.fixture
def proxy(toxiproxy: Toxiproxy) -> Iterator[Proxy]:
    """A proxy in front of a fresh echo server, removed at the end."""
    with echo_server() as port:
        made = toxiproxy.proxy(f"echo-{uuid.uuid4().hex[:8]}", f"{HOST}:{port}")
        try:
            yield made
        finally:
            toxiproxy.remove(made)


def answers(proxy: Proxy) -> bool:
    return ask(proxy.port, "hello", count=2) == ["hello-0", "hello-1"]


def test_traffic_passes_through_a_proxy_on_loopback(proxy: Proxy) -> None:
    assert proxy.listen.startswith("127.0.0.1:")
    assert answers(proxy)
    assert proxy.toxics() == []


def test_a_cut_stalls_traffic_and_heal_restores_it(proxy: Proxy) -> None:
    proxy.cut()
    with pytest.raises(TimeoutError):
        ask(proxy.port, timeout=SHORT)
    assert {(t.type, t.stream) for t in proxy.toxics()} == {
        ("timeout", Stream.UPSTREAM),
        ("timeout", Stream.DOWNSTREAM),
    }
    proxy.heal()
    assert wait_until(lambda: answers(proxy), "the healed proxy to answer", ignore=(OSError,))
    assert proxy.toxics() == []


def test_disable_refuses_connections_until_enabled(proxy: Proxy) -> None:
    proxy.disable()
    assert not proxy.enabled()
    with pytest.raises(ConnectionRefusedError):
        ask(proxy.port)
    proxy.enable()
    assert wait_until(lambda: answers(proxy), "the enabled proxy to answer", ignore=(OSError,))


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (lambda p: p.latency(50, jitter=10), "latency"),
        (lambda p: p.bandwidth(64), "bandwidth"),
    ],
    ids=["latency", "bandwidth"],
)
def test_a_slow_link_still_answers(proxy: Proxy, fault: Fault, kind: str) -> None:
    fault(proxy)
    assert answers(proxy)
    assert {t.stream for t in proxy.toxics() if t.type == kind} == {*Stream}


def test_reset_makes_the_client_see_a_reset(proxy: Proxy) -> None:
    proxy.reset()
    with pytest.raises(ConnectionResetError):
        ask(proxy.port)
    proxy.clear()
    assert answers(proxy)


def test_a_wholly_lossy_link_stalls_every_connection(proxy: Proxy) -> None:
    proxy.lossy(1.0, stall_ms=60_000)
    with pytest.raises(TimeoutError):
        ask(proxy.port, timeout=SHORT)
    stall = next(t for t in proxy.toxics() if t.name == "lossy_stall")
    assert (stall.type, stall.toxicity) == ("timeout", 1.0)
    proxy.clear()
    assert proxy.toxics() == []
    assert wait_until(lambda: answers(proxy), "the cleared proxy to answer", ignore=(OSError,))


def test_a_link_without_loss_answers_every_time(proxy: Proxy) -> None:
    proxy.lossy(0.0)
    assert all(answers(proxy) for _ in range(5))
