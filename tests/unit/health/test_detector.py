"""The failure detector (``health.detector``) over simulated heartbeats, seeded: a
regular site is never suspected, a stopped one is after a few periods, a 20 %-loss
link never is, a new site is judged cautiously, and memory stays bounded.

The figures asserted here are the ones docs/failover.md quotes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from edgeplane.health.detector import (
    DEFAULT_THRESHOLD,
    PHI_CAP,
    WINDOW,
    YOUNG_SAMPLES,
    ArrivalHistory,
    Detector,
    phi_of,
    phi_of_losses,
)

JITTER = 0.3  # seconds a heartbeat may arrive late (TCP, the hub's event loop)
TEN_MINUTES = 600.0
PERIODS = [1.0, 2.0, 10.0]
PERIOD_IDS = ["1s", "2s", "10s"]


def arrivals(rng: random.Random, period: float, until: float, loss: float) -> Iterator[float]:
    """When the hub receives a site's heartbeats: one per period, each late by up to
    ``JITTER``; a lost one is simply missing (the next comes a period later)."""
    beat = 0
    while (beat := beat + 1) * period < until:
        if rng.random() >= loss:
            yield beat * period + rng.uniform(0.0, JITTER)


def fed(period: float, until: float, loss: float = 0.0, seed: int = 0) -> ArrivalHistory:
    """A history after ``until`` seconds of heartbeats."""
    history = ArrivalHistory(period)
    for at in arrivals(random.Random(seed), period, until, loss):
        history.heard(at)
    return history


def worst_phi(period: float, until: float, loss: float, seed: int) -> float:
    """The highest phi the site reaches, read just before each heartbeat arrives (the
    silence is longest then)."""
    history, worst = ArrivalHistory(period), 0.0
    for at in arrivals(random.Random(seed), period, until, loss):
        worst = max(worst, history.phi(math.nextafter(at, -math.inf)))
        history.heard(at)
    return worst


def tenths_to_suspect(history: ArrivalHistory, threshold: float = DEFAULT_THRESHOLD) -> int:
    """How many tenths of a period of silence after its last heartbeat the site is
    suspected at ``threshold`` (the history stops growing: the site stopped)."""
    assert history.last is not None
    tenths = 0
    while history.phi(history.last + (tenths := tenths + 1) * history.expected / 10) < threshold:
        assert tenths < 10_000, "never suspected"
    return tenths


@pytest.mark.parametrize("period", PERIODS, ids=PERIOD_IDS)
@pytest.mark.parametrize("seed", range(3))
def test_a_regular_site_is_never_suspected(period: float, seed: int) -> None:
    assert worst_phi(period, TEN_MINUTES, loss=0.0, seed=seed) < 0.1


@pytest.mark.parametrize(
    ("threshold", "tenths"),
    [(DEFAULT_THRESHOLD, 34), (12.0, 36), (16.0, 38), (4.0, 30)],
    ids=["threshold-8", "threshold-12", "threshold-16", "threshold-4"],
)
@pytest.mark.parametrize("period", PERIODS, ids=PERIOD_IDS)
def test_a_stopped_site_is_suspected_after_a_few_periods(
    period: float, threshold: float, tenths: int
) -> None:
    """Whatever its period: at threshold 8 between 3.3 and 3.4 periods of silence,
    so a health loop ticking once a period finds it at the fourth tick."""
    history = fed(period, 300 * period)
    assert tenths_to_suspect(history, threshold) == tenths


@pytest.mark.parametrize("period", PERIODS, ids=PERIOD_IDS)
def test_suspicion_grows_with_silence_and_a_higher_threshold_comes_later(period: float) -> None:
    history = fed(period, 300 * period)
    assert history.last is not None
    phis = [history.phi(history.last + k * period) for k in range(1, 6)]
    assert phis == sorted(phis)
    assert phis[2] < DEFAULT_THRESHOLD <= phis[3]  # not at 3 periods, at 4
    assert tenths_to_suspect(history, 8.0) < tenths_to_suspect(history, 12.0)


@pytest.mark.parametrize("period", PERIODS, ids=PERIOD_IDS)
@pytest.mark.parametrize("seed", range(10))
def test_a_twenty_percent_loss_link_is_never_suspected(period: float, seed: int) -> None:
    """10 minutes of 20 % of heartbeats lost at random, each late by up to 0.3 s: at
    600 heartbeats, runs of four or five lost in a row occur, and are not a failure:
    phi stays under half the threshold (3.2 at most over these 30 runs)."""
    assert worst_phi(period, TEN_MINUTES, loss=0.2, seed=seed) < DEFAULT_THRESHOLD / 2


@pytest.mark.parametrize(
    ("loss", "least", "most"),
    [(0.05, 7.0, 10.0), (0.2, 11.0, 16.0)],
    ids=["5-percent", "20-percent"],
)
@pytest.mark.parametrize("seed", range(10))
def test_a_stopped_site_on_a_lossy_link_is_suspected_later(
    loss: float, least: float, most: float, seed: int
) -> None:
    """The price of no false alarm: the silence must outlast the runs of losses that
    link shows (at 20 %, 12 to 15 periods; at 5 %, 7 to 9)."""
    tenths = tenths_to_suspect(fed(1.0, TEN_MINUTES, loss, seed))
    assert least * 10 <= tenths <= most * 10


@pytest.mark.parametrize("seed", range(3))
def test_a_fleet_polled_each_period_suspects_only_the_stopped_site(seed: int) -> None:
    """As the health loop sees it: a clean site, a 20 %-loss one and one that stops
    after five minutes, all beating every second, read at every whole second for ten
    minutes. Only the stopped site is ever suspected, at the fourth tick of silence."""
    rng, detector = random.Random(seed), Detector()
    beats = {
        "clean": list(arrivals(rng, 1.0, TEN_MINUTES, loss=0.0)),
        "lossy": list(arrivals(rng, 1.0, TEN_MINUTES, loss=0.2)),
        "stopped": list(arrivals(rng, 1.0, TEN_MINUTES / 2, loss=0.0)),
    }
    suspected: dict[str, int] = {}
    for tick in range(1, int(TEN_MINUTES)):
        for site, times in beats.items():
            while times and times[0] <= tick:
                detector.heard(site, times.pop(0), expected=1.0)
            if detector.suspected(site, float(tick)):
                suspected.setdefault(site, tick)
    assert list(suspected) == ["stopped"]
    silent = detector.silent_for("stopped", float(suspected["stopped"]))
    assert silent is not None and 3.3 < silent <= 4.3


def test_one_lost_heartbeat_raises_no_suspicion() -> None:
    history = fed(1.0, 300.0)
    assert history.last is not None
    assert history.phi(history.last + 2 + JITTER) < 1.0


@pytest.mark.parametrize(
    ("heartbeats", "tenths"),
    [(1, 135), (2, 133), (10, 114), (20, 91), (YOUNG_SAMPLES + 1, 34), (100, 34)],
    ids=["first", "second", "tenth", "twentieth", "past-young", "hundredth"],
)
def test_a_new_site_is_judged_from_its_first_heartbeat_cautiously(
    heartbeats: int, tenths: int
) -> None:
    """A new history cannot tell a clean link from a lossy one yet: it assumes 20 %
    loss, an assumption that fades over its first 30 intervals."""
    history = ArrivalHistory(1.0)
    for beat in range(heartbeats):
        history.heard(float(beat))
    assert tenths_to_suspect(history) == tenths


def test_an_outage_is_not_learnt() -> None:
    """After a site returns from a long silence, it is judged as tightly as before."""
    history = fed(1.0, 300.0)
    before = tenths_to_suspect(history)
    assert history.last is not None
    back = history.last + 60.0
    for beat in range(5):
        history.heard(back + beat)
    assert max(history.intervals) < 2.0
    assert tenths_to_suspect(history) == before


def test_a_new_period_reseeds_and_the_interval_across_it_is_not_learnt() -> None:
    detector = Detector()
    for beat in range(50):
        detector.heard("s", 10.0 * beat, expected=10.0)
    detector.heard("s", 495.0, expected=1.0)  # told the new period mid-interval
    assert detector.phi("s", 495.0 + 1.0) == pytest.approx(0.0, abs=1e-3)
    for beat in range(1, 40):
        detector.heard("s", 495.0 + beat, expected=1.0)
    assert detector.suspected("s", 534.0 + 3.3) is False
    assert detector.suspected("s", 534.0 + 3.4) is True


@pytest.mark.parametrize(
    ("arrival", "kept"),
    [(10.0, 10.0), (9.0, 10.0), (11.0, 11.0)],
    ids=["duplicate", "out-of-order", "newer"],
)
def test_a_heartbeat_no_newer_than_the_last_is_ignored(arrival: float, kept: float) -> None:
    history = ArrivalHistory(1.0)
    history.heard(10.0)
    count = len(history.intervals)
    history.heard(arrival)
    assert history.last == kept
    assert len(history.intervals) == count + (arrival > 10.0)


def test_before_any_heartbeat_nothing_is_suspected() -> None:
    history = ArrivalHistory(1.0)
    assert history.phi(1e9) == 0.0
    assert history.silent_for(1e9) == math.inf
    detector = Detector()
    assert detector.phi("never", 1e9) is None
    assert detector.silent_for("never", 1e9) is None
    assert detector.suspected("never", 1e9) is False


@pytest.mark.parametrize(
    ("silence", "mean", "std", "expected"),
    [
        (1e12, 1.0, 0.1, PHI_CAP),
        (-1e12, 1.0, 0.1, 0.0),
        (2.0, 2.0, 0.25, math.log10(2.0)),
        (3.0, 2.0, 0.25, 4.737),
    ],
    ids=["silence-without-end", "far-before-the-mean", "at-the-mean", "four-deviations"],
)
def test_phi_of_a_normal_silence_has_no_overflow(
    silence: float, mean: float, std: float, expected: float
) -> None:
    assert phi_of(silence, mean, std) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("periods", "loss", "expected"),
    [
        (5.0, 0.0, math.inf),
        (2.0, 0.2, 0.0),
        (12.0, 0.1, 10.0),
        (12.0, 0.9, 10.0 * math.log10(2.0)),
        (1e9, 0.2, PHI_CAP),
    ],
    ids=["clean-link", "within-the-pause", "ten-overdue", "beyond-max-loss", "capped"],
)
def test_phi_of_losses(periods: float, loss: float, expected: float) -> None:
    assert phi_of_losses(periods, loss) == pytest.approx(expected)


def test_the_window_stays_bounded() -> None:
    history = fed(1.0, 10 * WINDOW, loss=0.2)
    assert len(history.intervals) == WINDOW
    assert history.learnt == YOUNG_SAMPLES


def test_the_running_sums_match_the_window_after_it_rolls() -> None:
    history = fed(2.0, 20 * WINDOW, loss=0.2, seed=7)
    assert history.total == pytest.approx(sum(history.intervals))
    assert history.squares == pytest.approx(sum(i * i for i in history.intervals))
    assert history.beats == sum(max(1, round(i / 2.0)) for i in history.intervals)


@pytest.mark.parametrize("period", PERIODS, ids=PERIOD_IDS)
def test_a_silent_site_is_doubted_within_two_and_a_half_periods_before_suspected(
    period: float,
) -> None:
    detector = Detector()
    for at in arrivals(random.Random(0), period, 300 * period, loss=0.0):
        detector.heard("a", at, period)
        assert not detector.doubts("a", at + period)  # a regular beat is never doubted
    last = fed(period, 300 * period).last
    assert last is not None
    assert detector.doubts("a", last + 2.5 * period)
    assert not detector.suspected("a", last + 2.5 * period)
    assert not detector.doubts("never-heard", last)


def test_the_detector_evicts_the_site_silent_longest_past_its_limit() -> None:
    detector = Detector(limit=3)
    for at, site in enumerate(["a", "b", "c", "a", "d"]):
        detector.heard(site, float(at), expected=1.0)
    assert len(detector) == 3
    assert "b" not in detector  # heard at 1: the longest silent when d came
    assert {"a", "c", "d"} == {s for s in "abcd" if s in detector}
    detector.forget("a")
    detector.forget("a")
    assert "a" not in detector and len(detector) == 2


@pytest.mark.parametrize(
    "make",
    [lambda: ArrivalHistory(0.0), lambda: ArrivalHistory(-1.0), lambda: Detector(limit=0)],
    ids=["zero-period", "negative-period", "no-room"],
)
def test_nonsense_is_refused(make: object) -> None:
    with pytest.raises(ValueError, match="not"):
        make()  # type: ignore[operator]
