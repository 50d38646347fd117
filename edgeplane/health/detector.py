"""Detector: how suspicious a site's silence is, from the history of its heartbeats.

A phi accrual failure detector (Hayashibara et al., 2004) in the form Akka and
Cassandra use: the hub keeps, per site, the last ``WINDOW`` intervals between the
heartbeats it received, fits a normal distribution to them, and reads the silence so
far against it: ``phi = -log10(P(an interval at least this long))``. Phi 1 means a
one-in-ten silence, 8 a one-in-a-hundred-million one. Unlike a fixed timeout, phi
adapts to each link: a site on a lossy link, whose heartbeats often come a period
late, must stay silent longer before it is suspected than one on a clean link.

Tuned for edge links (docs/failover.md, "How a lost site is detected"):

* the history is seeded with the period the site was told, so a site is judged from
  its first heartbeat (Akka's ``first-heartbeat-estimate``), and re-seeded when the
  period changes;
* one period of acceptable pause is added to the mean and the standard deviation has
  a floor, so one lost or late heartbeat never raises suspicion, while a site that
  stopped is suspected after about 3.3 periods of silence at threshold 8;
* a silence longer than ``MAX_SAMPLE_PERIODS`` periods is not learnt: an outage must
  not teach the detector that outages are normal;
* a second reading knows that heartbeats are lost whole: a normal curve fitted to
  intervals of one, two or three periods has too thin a tail, and on a link losing
  20 % of them it suspects the site at every third or fourth loss in a row (every few
  minutes). This reading counts the heartbeats overdue past the pause and the chance
  of losing that many in a row at the loss rate seen; phi is the lesser of the two
  readings. A clean link has no losses and is judged by the normal reading alone.
  A new history assumes a lossy link (``YOUNG_LOSS``) until it has seen enough.

Pure: every reading takes ``now`` (the hub's clock, seconds); the health controller
(``hub.controllers.health``) feeds it the heartbeats it receives and asks it.
Neighbours: ``health.liveness`` (the fixed-limit Offline rule), ``health.failover``.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 8.0
"""Phi at which a site is suspected (Akka's default; Cassandra uses 8 as well)."""

DOUBT_PHI = 1.0
"""Phi from which a site is in doubt (a one-in-ten silence), long before it is
suspected: counted in ``edgeplane_sites_suspected``, and no replica fails back to it."""

WINDOW = 100
"""Inter-arrival samples kept per site: enough for a stable mean and deviation, and
recent enough to follow a link that changes."""

MIN_STD_SECONDS = 0.1
"""Floor on the standard deviation, whatever the period (a perfectly regular site would
otherwise be suspected a few milliseconds late)."""

STD_FLOOR_PERIODS = 0.25
"""Floor on the standard deviation as a fraction of the period (Akka seeds its history
with ``expected / 4``): a site told to beat every 10 s may well be a second late."""

PAUSE_PERIODS = 1.0
"""Acceptable pause added to the mean, in periods: a heartbeat lost and sent again, or
an HTTP retry, delays the next arrival by about one period; that alone is not a
failure."""

MAX_SAMPLE_PERIODS = 10.0
"""Intervals longer than this many periods are outages, not samples."""

YOUNG_LOSS = 0.2
"""The loss a new history assumes of its link (the worst the defaults are tuned for):
a few heartbeats in, a clean link and a lossy one look alike, and three lost in a row
on a 20 % link (one new site in twenty) must not read as a stopped site."""

YOUNG_SAMPLES = 30
"""Intervals over which that assumption fades out: by then a 20 % link has shown its
losses (the chance it lost none is 0.1 %)."""

MAX_LOSS = 0.5
"""The highest loss rate the loss reading believes: a link losing more than half its
heartbeats proves little by its silences, yet a site on it must still be found (at
threshold 8, after about 29 periods)."""

PHI_CAP = 1e3
"""Phi past which there is nothing more to say (a silence of many deviations)."""

_LN10 = math.log(10.0)


@dataclass(slots=True)
class ArrivalHistory:
    """The heartbeats heard from one site: the period it was told (seconds), the last
    ``WINDOW`` intervals between arrivals with their running sums, the last arrival.

    The intervals are a ring of doubles (``array``), not a deque of float objects:
    about 1 KB a site instead of 4.5, and nothing more for the garbage collector to
    walk, whose full collections are what limits the hub at thousands of sites
    (docs/benchmarks.md)."""

    expected: float
    samples: array[float] = field(default_factory=lambda: array("d"))
    oldest: int = 0
    """Where in ``samples`` the oldest interval is, once the ring is full."""
    last: float | None = None
    total: float = 0.0
    squares: float = 0.0
    beats: int = 0
    """Heartbeats the site sent over the kept intervals (an interval of k periods spans
    k beats, k - 1 of them lost): what the loss rate is read from."""
    learnt: int = 0
    """Intervals learnt since the last seeding, up to ``YOUNG_SAMPLES``."""
    straddling: bool = False
    """The next interval spans a change of period: it belongs to neither, not a sample."""

    def __post_init__(self) -> None:
        self.reset(self.expected)

    def reset(self, expected: float) -> None:
        """Re-seed for a new period (keeping the last arrival, so a silent site stays
        suspect): two samples one floor deviation either side of it, as Akka does."""
        if not expected > 0:
            raise ValueError(f"a heartbeat period must be positive, not {expected}")
        self.expected = expected
        del self.samples[:]
        self.oldest = 0
        self.total = self.squares = 0.0
        self.beats = self.learnt = 0
        spread = std_floor(expected)
        for seed in (expected - spread, expected + spread):
            self._record(seed)
        self.straddling = self.last is not None

    def heard(self, at: float) -> None:
        """Record a heartbeat received at ``at``; one no later than the last is a
        duplicate or arrived out of order, and ignored."""
        if self.last is not None and at <= self.last:
            return
        if self.last is not None and not self.straddling:
            interval = at - self.last
            if interval <= MAX_SAMPLE_PERIODS * self.expected:
                self._record(interval)
                self.learnt = min(YOUNG_SAMPLES, self.learnt + 1)
        self.last, self.straddling = at, False

    def phi(self, now: float) -> float:
        """How suspicious the silence since the last arrival is at ``now``; 0.0 before
        any arrival (a site never heard from is the joining rules' business)."""
        if self.last is None:
            return 0.0
        silence = now - self.last
        count = len(self.samples)
        mean = self.total / count
        variance = max(0.0, self.squares / count - mean * mean)
        std = max(math.sqrt(variance), std_floor(self.expected))
        normal = phi_of(silence, mean + PAUSE_PERIODS * self.expected, std)
        return min(normal, phi_of_losses(silence / self.expected, self.loss()))

    def loss(self) -> float:
        """The share of heartbeats believed lost: as observed over the kept intervals,
        but while the history is young no less than ``YOUNG_LOSS``, an assumption that
        fades out over the first ``YOUNG_SAMPLES`` intervals."""
        observed = (self.beats - len(self.samples)) / self.beats
        assumed = YOUNG_LOSS * (1.0 - self.learnt / YOUNG_SAMPLES)
        return max(observed, assumed)

    @property
    def intervals(self) -> tuple[float, ...]:
        """The kept intervals, oldest first (seeds included until they roll out)."""
        return (*self.samples[self.oldest :], *self.samples[: self.oldest])

    def silent_for(self, now: float) -> float:
        """Seconds since the last arrival (never negative); infinite when none."""
        return math.inf if self.last is None else max(0.0, now - self.last)

    def _record(self, interval: float) -> None:
        if len(self.samples) < WINDOW:
            self.samples.append(interval)
        else:
            dropped = self.samples[self.oldest]
            self.total -= dropped
            self.squares -= dropped * dropped
            self.beats -= self._periods(dropped)
            self.samples[self.oldest] = interval
            self.oldest = (self.oldest + 1) % WINDOW
        self.total += interval
        self.squares += interval * interval
        self.beats += self._periods(interval)

    def _periods(self, interval: float) -> int:
        return max(1, round(interval / self.expected))


def std_floor(expected: float) -> float:
    """The least standard deviation a site heartbeating every ``expected`` s has."""
    return max(MIN_STD_SECONDS, STD_FLOOR_PERIODS * expected)


def phi_of(silence: float, mean: float, std: float) -> float:
    """Phi of a ``silence`` for intervals distributed normally around ``mean`` with
    ``std``, with Akka's logistic approximation of the normal CDF:
    ``phi = -log10(1 - F(silence)) = log10(1 + exp(z))``. Written as a softplus so that
    neither a long silence (``1 - F`` rounds to 0) nor a short one (``exp`` overflows)
    breaks it; capped at ``PHI_CAP``."""
    y = (silence - mean) / std
    z = y * (1.5976 + 0.070566 * y * y)
    softplus = z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))
    return min(PHI_CAP, softplus / _LN10)


def phi_of_losses(periods: float, loss: float) -> float:
    """Phi of a silence of ``periods`` periods on a link losing a share ``loss`` of
    heartbeats independently: each heartbeat overdue past the acceptable pause is one
    more lost in a row, which happens with probability ``loss``, so phi grows by
    ``-log10(loss)`` per period. Infinite on a link that lost nothing (the normal
    reading decides alone); a loss above ``MAX_LOSS`` counts as ``MAX_LOSS``."""
    if loss <= 0:
        return math.inf
    overdue = max(0.0, periods - 1.0 - PAUSE_PERIODS)
    return min(PHI_CAP, overdue * -math.log10(min(loss, MAX_LOSS)))


class Detector:
    """Arrival histories by site name, at most ``limit`` of them: past the limit, the
    site heard from least recently is forgotten (histories are kept in the order of
    their last heartbeat, so that is the longest-silent one when heartbeats are
    recorded as they arrive). Memory stays bounded by ``limit * WINDOW`` samples."""

    def __init__(self, limit: int = 100_000) -> None:
        if limit < 1:
            raise ValueError(f"a detector holds at least one site, not {limit}")
        self.limit = limit
        self._histories: dict[str, ArrivalHistory] = {}

    def __len__(self) -> int:
        return len(self._histories)

    def __contains__(self, site: object) -> bool:
        return site in self._histories

    def heard(self, site: str, at: float, expected: float) -> None:
        """A heartbeat from ``site`` received at ``at``, told to beat every
        ``expected`` seconds (a new period re-seeds its history)."""
        history = self._histories.pop(site, None)
        if history is None:
            history = ArrivalHistory(expected)
            while len(self._histories) >= self.limit:
                del self._histories[next(iter(self._histories))]
        elif history.expected != expected:
            history.reset(expected)
        history.heard(at)
        self._histories[site] = history  # last in order: the most recently heard

    def phi(self, site: str, now: float) -> float | None:
        """The site's phi at ``now``; None when it was never heard (or forgotten)."""
        history = self._histories.get(site)
        return None if history is None else history.phi(now)

    def doubts(self, site: str, now: float) -> bool:
        """Whether the site's phi has reached ``DOUBT_PHI``; never for a site not heard."""
        return self.suspected(site, now, DOUBT_PHI)

    def suspected(self, site: str, now: float, threshold: float = DEFAULT_THRESHOLD) -> bool:
        """Whether the site's phi has reached ``threshold``; a site never heard is not
        suspected here (liveness judges it from when it joined)."""
        phi = self.phi(site, now)
        return phi is not None and phi >= threshold

    def silent_for(self, site: str, now: float) -> float | None:
        """Seconds since the site's last heartbeat; None when it was never heard."""
        history = self._histories.get(site)
        return None if history is None else history.silent_for(now)

    def forget(self, site: str) -> None:
        """Drop the site's history (deleted, or moved to another hub); no-op if none."""
        self._histories.pop(site, None)
