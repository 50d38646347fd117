"""Dashboard sessions and the sign-in gate, on a fake clock."""

from __future__ import annotations

import pytest

from edgeplane.web.sessions import IDLE_SECONDS, MAX_SECONDS, LoginGate, Sessions, token_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_found_by_its_id_and_never_by_its_token() -> None:
    sessions = Sessions(Clock())
    session = sessions.start("ep_secret")
    assert sessions.get(session.id) is session
    assert sessions.get("ep_secret") is None
    assert session.key == token_key("ep_secret") and "ep_secret" not in session.key


@pytest.mark.parametrize(
    ("idle", "total", "alive"),
    [
        (IDLE_SECONDS - 1, IDLE_SECONDS - 1, True),
        (IDLE_SECONDS + 1, IDLE_SECONDS + 1, False),
        (IDLE_SECONDS / 2, MAX_SECONDS + 1, False),
    ],
    ids=["used-recently", "idle-too-long", "too-old-though-used"],
)
def test_sessions_end_when_idle_or_old(idle: float, total: float, alive: bool) -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.start("t")
    while clock.now + idle < 1000.0 + total:  # keep it used, idle at most `idle` apart
        clock.now += idle
        if sessions.get(session.id) is None:
            break
    clock.now = 1000.0 + total
    assert (sessions.get(session.id) is not None) is alive


def test_the_table_is_bounded_and_a_refused_token_ends_all_its_sessions() -> None:
    sessions = Sessions(Clock(), limit=3)
    first = sessions.start("a")
    same = [sessions.start("b") for _ in range(2)]
    sessions.start("c")
    assert len(sessions) == 3 and sessions.get(first.id) is None
    assert sessions.end_token(token_key("b")) == 2
    assert all(sessions.get(s.id) is None for s in same)


@pytest.mark.parametrize(
    ("sent", "ok"),
    [(None, False), ("", False), ("nope", False), ("RIGHT", True)],
    ids=["missing", "empty", "wrong", "right"],
)
def test_csrf_tokens_must_match(sent: str | None, ok: bool) -> None:
    session = Sessions(Clock()).start("t")
    session.csrf = "RIGHT"
    assert session.csrf_ok(sent) is ok


def test_failed_sign_ins_are_limited_per_peer_and_in_all() -> None:
    clock = Clock()
    gate = LoginGate(rate=0.2, burst=2, total_rate=1.0, total_burst=3, clock=clock)
    for _ in range(2):
        assert gate.wait("1.2.3.4") == 0
        gate.failed("1.2.3.4")
    assert gate.wait("1.2.3.4") == pytest.approx(5.0)
    assert gate.wait("5.6.7.8") == 0
    gate.failed("5.6.7.8")
    assert gate.wait("9.9.9.9") == pytest.approx(1.0)  # the total is spent
    clock.now += 5
    assert gate.wait("1.2.3.4") == 0
