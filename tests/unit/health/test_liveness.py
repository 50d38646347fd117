"""The liveness rules (``health.liveness``), table by table: which sites are stale by
the hub's clock, why, which are unreachable (suspected by the detector, or past the hard
bound) and what their Offline mark says, and which are down for their nodes; phases as
the API's enum."""

from __future__ import annotations

import pytest

from edgeplane.api.sites import SitePhase
from edgeplane.health.liveness import (
    CLOCK_SKEW_SECONDS,
    Cause,
    Heard,
    Suspicion,
    last_heard,
    newest,
    nodes_down,
    parse_stamp,
    phase_of,
    stale,
    unreachable,
    why_stale,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
LIMIT = 40.0
JUST_NOW = "2027-01-15T07:59:50Z"  # 10 s ago
LONG_AGO = "2027-01-15T07:59:00Z"  # 60 s ago
AHEAD = "2027-01-15T08:00:03Z"  # within the clock skew
FAR_AHEAD = "2027-01-15T08:01:00Z"  # beyond it
ONLINE, PENDING = SitePhase.ONLINE, SitePhase.PENDING


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        (Heard(ONLINE, LONG_AGO), True),
        (Heard(ONLINE, JUST_NOW), False),
        (Heard(ONLINE, "2027-01-15T07:59:20Z"), False),
        (Heard(ONLINE, "2027-01-15T07:59:19Z"), True),
        (Heard(ONLINE), True),
        (Heard(ONLINE, "not a time"), True),
        (Heard(ONLINE, AHEAD), False),
        (Heard(ONLINE, FAR_AHEAD), True),
        (Heard(ONLINE, lease=NOW + CLOCK_SKEW_SECONDS + 1), True),
        (Heard(ONLINE, LONG_AGO, lease=NOW - 5), False),
        (Heard(ONLINE, JUST_NOW, lease=NOW - 100), False),
        (Heard(ONLINE, LONG_AGO, lease=NOW - 100), True),
        (Heard(ONLINE, FAR_AHEAD, lease=NOW - 1), False),
        (Heard(PENDING, created=JUST_NOW), False),
        (Heard(PENDING, created=LONG_AGO), True),
        (Heard(PENDING), True),
        (Heard(PENDING, JUST_NOW, created=LONG_AGO), False),
        (Heard(PENDING, created=LONG_AGO, lease=NOW - 1), False),
        (Heard(SitePhase.OFFLINE, "2020-01-01T00:00:00Z"), False),
        (Heard(SitePhase.CORDONED), False),
        (Heard(SitePhase.CORDONED, LONG_AGO, lease=NOW - 1000), False),
        (Heard(None, LONG_AGO), False),
    ],
    ids=[
        "online-silent-past-the-limit",
        "online-within-the-limit",
        "online-at-the-limit",
        "online-a-second-past-the-limit",
        "online-never-heard",
        "online-unreadable-stamp",
        "online-stamp-ahead-within-the-skew",
        "online-stamp-beyond-the-skew-counts-as-none",
        "online-lease-beyond-the-skew-counts-as-none",
        "lease-newer-than-the-stamp",
        "stamp-newer-than-the-lease",
        "both-old",
        "stamp-beyond-the-skew-lease-fresh",
        "pending-just-joined",
        "pending-never-reported",
        "pending-without-times",
        "pending-reported-since-it-joined",
        "pending-with-a-fresh-lease",
        "offline-never-stale",
        "cordoned-never-stale",
        "cordoned-silent-never-stale",
        "no-phase",
    ],
)
def test_stale(site: Heard, expected: bool) -> None:
    assert stale(site, LIMIT, NOW) is expected


@pytest.mark.parametrize(
    ("site", "why"),
    [
        (Heard(ONLINE), "no heartbeat for 40 s"),
        (Heard(PENDING), "never reported since it joined for 40 s"),
    ],
    ids=["online", "pending"],
)
def test_why_a_site_is_stale(site: Heard, why: str) -> None:
    assert why_stale(site, LIMIT) == why


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ((), None),
        ((None, None), None),
        ((NOW - 10, NOW - 20), NOW - 10),
        ((NOW - 10, NOW + CLOCK_SKEW_SECONDS), NOW + CLOCK_SKEW_SECONDS),
        ((NOW - 10, NOW + CLOCK_SKEW_SECONDS + 1), NOW - 10),
    ],
    ids=["nothing", "only-none", "the-newer", "ahead-by-the-skew", "beyond-the-skew-ignored"],
)
def test_newest(times: tuple[float | None, ...], expected: float | None) -> None:
    assert newest(times, NOW) == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2027-01-15T08:00:00Z", NOW),
        ("2027-01-15T09:00:00+01:00", NOW),
        (None, None),
        ("", None),
        (17, None),
        ("yesterday", None),
        ("9999-12-31T23:59:59Z", 253402300799.0),
    ],
    ids=["utc-z", "offset", "absent", "empty", "not-a-string", "garbage", "last-second-of-9999"],
)
def test_parse_stamp(stamp: object, expected: float | None) -> None:
    assert parse_stamp(stamp) == expected


@pytest.mark.parametrize(
    ("phase", "nodes", "ready", "down"),
    [
        (ONLINE, 3, 0, True),
        (PENDING, 3, 0, True),
        (ONLINE, 3, 1, False),
        (ONLINE, 0, 0, False),
        (ONLINE, None, None, False),
        (ONLINE, 3, None, False),
        (SitePhase.OFFLINE, 3, 0, False),
        (SitePhase.CORDONED, 3, 0, False),
        (None, 3, 0, False),
    ],
    ids=[
        "online-all-not-ready",
        "pending-all-not-ready",
        "one-ready",
        "no-nodes-is-not-cut-off",
        "process-site-reports-none",
        "ready-not-reported",
        "offline-already",
        "cordoned",
        "no-phase",
    ],
)
def test_nodes_down(phase: SitePhase | None, nodes: object, ready: object, down: bool) -> None:
    assert nodes_down(phase, nodes, ready) is down


@pytest.mark.parametrize(
    ("value", "phase"),
    [("Online", ONLINE), ("Cordoned", SitePhase.CORDONED), ("online", None), (None, None)],
    ids=["online", "cordoned", "wrong-case", "absent"],
)
def test_phase_of(value: object, phase: SitePhase | None) -> None:
    assert phase_of(value) is phase


# -- unreachable: suspected by the detector, or past the hard bound -------------------

SUSPECTED, CALM = Suspicion(9.3, 8.0), Suspicion(2.0, 8.0)


@pytest.mark.parametrize(
    ("site", "suspicion", "cause", "last"),
    [
        (Heard(ONLINE, lease=NOW - 7), SUSPECTED, Cause.SUSPECTED, NOW - 7),
        (Heard(ONLINE, lease=NOW - 7), Suspicion(8.0, 8.0), Cause.SUSPECTED, NOW - 7),
        (Heard(ONLINE, lease=NOW - 7), CALM, None, None),
        (Heard(ONLINE, lease=NOW - 7), Suspicion(None, 8.0), None, None),
        (Heard(ONLINE, lease=NOW - 7), None, None, None),
        (Heard(ONLINE, LONG_AGO), CALM, Cause.SILENT, NOW - 60),
        (Heard(ONLINE, LONG_AGO), Suspicion(None, 8.0), Cause.SILENT, NOW - 60),
        (Heard(ONLINE, LONG_AGO, watched_since=NOW - 10), Suspicion(None, 8.0), None, None),
        (Heard(ONLINE, LONG_AGO, watched_since=NOW - 50), None, Cause.SILENT, NOW - 60),
        (Heard(ONLINE), None, Cause.SILENT, None),
        (Heard(PENDING, created=LONG_AGO), None, Cause.NEVER_REPORTED, None),
        (Heard(PENDING, created=JUST_NOW), None, None, None),
        (Heard(PENDING, lease=NOW - 7), SUSPECTED, Cause.SUSPECTED, NOW - 7),
        (Heard(SitePhase.OFFLINE, LONG_AGO), SUSPECTED, None, None),
        (Heard(SitePhase.CORDONED, LONG_AGO), SUSPECTED, None, None),
    ],
    ids=[
        "suspected",
        "suspected-at-the-threshold",
        "calm",
        "detector-never-heard-it-fresh-lease",
        "no-detector-fresh-lease",
        "calm-but-past-the-bound",
        "unheard-past-the-bound",
        "past-the-bound-but-watched-only-since-10-s",
        "past-the-bound-watched-since-50-s",
        "online-never-heard",
        "pending-never-reported",
        "pending-just-joined",
        "pending-suspected",
        "offline-already",
        "cordoned",
    ],
)
def test_unreachable(
    site: Heard, suspicion: Suspicion | None, cause: Cause | None, last: float | None
) -> None:
    found = unreachable(site, LIMIT, NOW, suspicion)
    assert (found and found.cause, found and found.last_heard) == (cause, last)


@pytest.mark.parametrize(
    ("site", "suspicion", "message"),
    [
        (
            Heard(ONLINE, lease=NOW - 7.2),
            SUSPECTED,
            "no heartbeat for 7 s (suspicion 9.3, threshold 8)",
        ),
        (
            Heard(ONLINE, lease=NOW - 12),
            Suspicion(1000.0, 12.5),
            "no heartbeat for 12 s (suspicion 1000.0, threshold 12.5)",
        ),
        (Heard(ONLINE, LONG_AGO), None, "no heartbeat for 60 s (the hub's limit is 40 s)"),
        (Heard(ONLINE), None, "no heartbeat (the hub's limit is 40 s)"),
        (
            Heard(PENDING, created=LONG_AGO),
            None,
            "never reported since it joined (the hub's limit is 40 s)",
        ),
    ],
    ids=["suspected", "suspected-capped-custom-threshold", "silent", "never-heard", "pending"],
)
def test_what_the_offline_mark_says(site: Heard, suspicion: Suspicion | None, message: str) -> None:
    found = unreachable(site, LIMIT, NOW, suspicion)
    assert found is not None
    assert found.message == message


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        (Heard(ONLINE, LONG_AGO, lease=NOW - 7), NOW - 7),
        (Heard(ONLINE, JUST_NOW, lease=NOW - 70), NOW - 10),
        (Heard(ONLINE, FAR_AHEAD, lease=NOW - 70), NOW - 70),
        (Heard(ONLINE, LONG_AGO, watched_since=NOW), NOW - 60),
        (Heard(PENDING, created=LONG_AGO), None),
    ],
    ids=["the-lease", "the-stamp", "ahead-ignored", "not-clamped-by-watching", "never"],
)
def test_last_heard_is_the_real_last_heartbeat(site: Heard, expected: float | None) -> None:
    assert last_heard(site, NOW) == expected
