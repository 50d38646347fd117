"""Builders for the rollout machine's tests: sites, states and strategies in a line.

Not a fake of anything: the machine is pure, so its tests hand it values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeplane.rollout import Controls, Phase, RolloutState, SiteView, Step, Strategy, step

T0 = 1_800_000_000.0
APP = "shop"


def site(
    name: str,
    revision: int | None = 1,
    ready: bool = True,
    groups: Sequence[str] = (),
    **more: Any,
) -> SiteView:
    return SiteView(name, frozenset(groups), revision, ready, **more)


def sites(count: int, revision: int | None = 1, prefix: str = "s", **more: Any) -> list[SiteView]:
    return [site(f"{prefix}{i:02d}", revision, **more) for i in range(count)]


def progressing(revision: int = 2, stable: int | None = 1, **more: Any) -> RolloutState:
    fields: dict[str, Any] = {
        "phase": Phase.PROGRESSING,
        "wave_started_at": T0,
        "started_at": T0,
        **more,
    }
    return RolloutState(revision, stable, **fields)


def strategy(rollout: Mapping[str, Any] | None = None, **fields: Any) -> Strategy:
    """``spec.rollout`` with test defaults: no soak unless asked."""
    spec = {"minSuccessSeconds": 0, **(rollout or {})}
    return Strategy.from_spec({**spec, **fields}, APP)


def run(
    state: RolloutState,
    how: Strategy,
    views: Sequence[SiteView],
    controls: Controls | None = None,
    now: float = T0,
) -> Step:
    return step(state, how, views, controls or Controls(), now)


def at(result: Step, revision: int) -> set[str]:
    """The sites the step has run ``revision``."""
    return {name for name, r in result.revisions.items() if r == revision}


def reasons(result: Step) -> list[str]:
    return [event.partition(": ")[0] for event in result.events]
