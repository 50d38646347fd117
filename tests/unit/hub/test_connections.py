"""The connection guard's bookkeeping (the protocol's timeouts and caps are tested
against a real hub in tests/security/test_exhaustion.py)."""

from __future__ import annotations

import pytest

from edgeplane.hub.connections import ConnectionGuard, ConnectionLimits, peer_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unix-socket", "unix-socket"),
    ],
    ids=["ipv4", "ipv6-a", "ipv6-same-64", "ipv4-mapped", "not-an-address"],
)
def test_peers_are_keyed_by_address_or_ipv6_64(host: str, key: str) -> None:
    assert peer_key(host) == key


def test_the_guard_caps_each_peer_and_the_total_and_forgets_closed_peers() -> None:
    refused: list[int] = []
    guard = ConnectionGuard(
        ConnectionLimits(per_peer=2, total=3), on_refused=lambda: refused.append(1)
    )
    assert [guard.admit("a"), guard.admit("a"), guard.admit("a")] == [True, True, False]
    assert guard.admit("b") is True
    assert guard.admit("c") is False  # three open in all
    guard.release("a")
    guard.release("a")
    assert "a" not in guard.peers and guard.open == 1
    assert guard.admit("c") is True
    assert len(refused) == 2
