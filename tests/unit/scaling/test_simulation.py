"""The autoscaler over time: a small fleet whose instances share a demand, read every
15 s through the same path the hub takes (each site's average, ``combine``,
``recommend``, ``decide``), with the decision's history carried to the next tick.

A noisy metric around its target must not make the count flap; a step up must be
followed within the policies' limits, and a step back down only after the scale-down
window."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from edgeplane.scaling import (
    Decision,
    Events,
    History,
    Reading,
    Reason,
    ScalingSpec,
    combine,
    decide,
    recommend,
)
from tests.unit.scaling.specs import T0, cpu, spec

TICK = 15
HOUR = 3600
SITES = 3


@dataclass(frozen=True)
class Tick:
    time: float
    before: int
    decision: Decision

    @property
    def change(self) -> int:
        return self.decision.desired - self.before


def site_reports(replicas: int, level: float, noise: Callable[[], float]) -> list[list[Reading]]:
    """Each site's average over its instances (the replicas dealt round the sites):
    ``level`` percent, each site's give or take its own ``noise``."""
    counts = [replicas // SITES + (1 if i < replicas % SITES else 0) for i in range(SITES)]
    return [[Reading("cpu", level * (1 + noise()), n)] for n in counts if n]


def run(
    scaling: ScalingSpec,
    start: int,
    demand: Callable[[float], float],
    noise: Callable[[], float] = lambda: 0.0,
    seconds: int = HOUR,
) -> list[Tick]:
    """``demand(t)`` is the load in instance-percent: spread evenly, each of ``n``
    replicas runs at ``demand / n`` percent of its requested cpu, give or take noise."""
    current, ticks = start, []
    history: History = ()
    events: Events = ()
    for step in range(seconds // TICK):
        now = T0 + step * TICK
        level = demand(now - T0) / max(current, 1)
        reports = site_reports(current, level, noise)
        recommendation = recommend(scaling, current, combine(reports), {})
        decision = decide(scaling, current, recommendation, history, events, now)
        ticks.append(Tick(now, current, decision))
        current, history, events = decision.desired, decision.history, decision.events
    return ticks


def changes(ticks: list[Tick]) -> list[Tick]:
    return [t for t in ticks if t.change]


def turns(ticks: list[Tick]) -> int:
    """How many times the count changed direction."""
    signs = [t.change > 0 for t in changes(ticks)]
    return sum(1 for a, b in itertools.pairwise(signs) if a != b)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5], ids=lambda s: f"seed-{s}")
def test_noise_within_the_tolerance_never_flaps(seed: int) -> None:
    rng = random.Random(seed)
    ticks = run(
        spec(cpu(70), tolerance=0.1), 4, lambda _t: 4 * 70, lambda: rng.uniform(-0.08, 0.08)
    )
    assert len(ticks) == HOUR // TICK
    assert turns(ticks) == 0
    assert changes(ticks) == []
    assert {t.decision.reason for t in ticks} == {Reason.STABLE}


STEP_UP, STEP_DOWN = 600, 1800


def step_demand(elapsed: float) -> float:
    """50% of the requested cpu at 4 replicas, then 200% of it, then 50% again."""
    per_replica = 200 if STEP_UP <= elapsed < STEP_DOWN else 50
    return 4 * per_replica


def test_a_step_up_is_followed_within_the_policies_and_back_after_the_window() -> None:
    scaling = spec(cpu(50), minReplicas=1, maxReplicas=20)
    ticks = run(scaling, 4, step_demand)
    moved = changes(ticks)
    ups = [t for t in moved if t.change > 0]
    downs = [t for t in moved if t.change < 0]

    assert all(t.decision.reason is Reason.STABLE for t in ticks if t.time < T0 + STEP_UP)
    # 200% at 4 replicas calls for 16; the default policies double or add 4 per 15 s.
    assert [(t.time - T0, t.before, t.decision.desired) for t in ups] == [
        (STEP_UP, 4, 8),
        (STEP_UP + TICK, 8, 16),
    ]
    assert ups[0].decision.reason is Reason.LIMITED_BY_POLICY
    assert all(t.decision.desired <= max(2 * t.before, t.before + 4) for t in ups)

    # Back at 50%, 4 replicas would do, but the window keeps 16 for 300 s after the
    # last recommendation of 16 (the tick before the drop).
    last_high = T0 + STEP_DOWN - TICK
    assert [(t.before, t.decision.desired) for t in downs] == [(16, 4)]
    assert downs[0].time - last_high == 300
    held = [t for t in ticks if T0 + STEP_DOWN <= t.time < downs[0].time]
    assert held and all(t.decision.reason is Reason.STABILIZING for t in held)
    assert turns(ticks) == 1
    assert ticks[-1].decision.desired == 4
