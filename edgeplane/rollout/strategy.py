"""Strategies: ``spec.rollout`` as a ``Strategy``, and which wave each site is in.

Waves are the ``groups`` in order (a site in several belongs to the first), or the
cumulative percentage ``steps`` of the placed sites in a stable per-application order;
then ``rest`` with every other site (omitted when empty). No ``spec.rollout`` at all is
today's behaviour: one wave ``all``, everything at once, nothing rolled back. The
machine (``machine``) asks for the waves on every step, so placement changes count.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from edgeplane.rollout.model import ALL, Amount, SiteView, Strategy, WaveSpec

REST = "rest"
DEFAULT_MAX_UNAVAILABLE = Amount(25, percent=True)
DEFAULT_MIN_SUCCESS_SECONDS = 30.0
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600.0

LEGACY = Strategy(waves=(WaveSpec("all", percent=100),))
"""No ``spec.rollout``: every site at once, no soak, no rollback, failures tolerated."""


@dataclass(frozen=True, slots=True)
class Wave:
    spec: WaveSpec
    sites: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name


def strategy_from_spec(rollout: Mapping[str, Any] | None, application: str = "") -> Strategy:
    """``Strategy.from_spec``: the wire ``spec.rollout`` with its defaults filled in."""
    if rollout is None:
        return Strategy(waves=LEGACY.waves, application=application)
    gates = rollout.get("gates") or {}
    return Strategy(
        waves=_groups(rollout.get("groups")) + _steps(rollout.get("steps")),
        max_unavailable=_amount(rollout, "maxUnavailable", DEFAULT_MAX_UNAVAILABLE),
        min_success_seconds=_seconds(rollout, "minSuccessSeconds", DEFAULT_MIN_SUCCESS_SECONDS),
        auto_rollback=bool(rollout.get("autoRollback", True)),
        failure_threshold=_amount(rollout, "failureThreshold", Amount(0)),
        progress_deadline_seconds=_seconds(
            rollout, "progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_SECONDS
        ),
        max_restarts=gates.get("maxRestarts"),
        application=application,
    )


def _groups(groups: Sequence[Mapping[str, Any]] | None) -> tuple[WaveSpec, ...]:
    return tuple(
        WaveSpec(
            name=group["name"],
            site_group=group["siteGroup"],
            require_approval=bool(group.get("requireApproval", False)),
            max_unavailable=_amount(group, "maxUnavailable", None),
        )
        for group in groups or ()
    )


def _steps(steps: Sequence[str | int | Mapping[str, Any]] | None) -> tuple[WaveSpec, ...]:
    waves = []
    for index, raw in enumerate(steps or (), start=1):
        entry = raw if isinstance(raw, Mapping) else {"percent": raw}
        percent = parse_amount(entry.get("percent"), f"rollout.steps[{index - 1}]")
        waves.append(
            WaveSpec(
                name=f"step-{index}",
                percent=percent.count if percent.percent else None,
                require_approval=bool(entry.get("requireApproval", False)),
            )
        )
    if any(wave.percent is None for wave in waves):
        raise ValueError("rollout.steps: each step is a percentage such as '10%'")
    return tuple(waves)


def _amount(spec: Mapping[str, Any], key: str, default: Amount | None) -> Any:
    raw = spec.get(key)
    return default if raw is None else parse_amount(raw, f"rollout.{key}")


def _seconds(spec: Mapping[str, Any], key: str, default: float) -> float:
    raw = spec.get(key)
    return default if raw is None else float(raw)


def parse_amount(raw: Any, field: str) -> Amount:
    """A count (``3``) or a percentage (``"25%"``) of sites."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return Amount(raw)
    text = str(raw).strip() if isinstance(raw, str) else ""
    if text.endswith("%") and text[:-1].isdigit() and int(text[:-1]) <= 100:
        return Amount(int(text[:-1]), percent=True)
    if text.isdigit():
        return Amount(int(text))
    raise ValueError(f"{field}: {raw!r} is not a count or a percentage: write 2 or '25%'")


def waves_of(strategy: Strategy, sites: Sequence[SiteView]) -> tuple[Wave, ...]:
    """Every declared wave with its sites (a wave may be empty), then ``rest`` when
    some site is in no declared wave."""
    if any(wave.percent is not None for wave in strategy.waves):
        waves = _by_steps(strategy, [site.name for site in sites])
    else:
        waves = _by_groups(strategy.waves, sites)
    placed = {site for wave in waves for site in wave.sites}
    rest = tuple(sorted(site.name for site in sites if site.name not in placed))
    return (*waves, Wave(WaveSpec(REST), rest)) if rest else waves


def _by_groups(specs: Sequence[WaveSpec], sites: Sequence[SiteView]) -> tuple[Wave, ...]:
    members: dict[str, list[str]] = {spec.name: [] for spec in specs}
    for site in sorted(sites, key=lambda view: view.name):
        first = next((spec for spec in specs if spec.site_group in site.groups), None)
        if first is not None:
            members[first.name].append(site.name)
    return tuple(Wave(spec, tuple(members[spec.name])) for spec in specs)


def _by_steps(strategy: Strategy, names: Sequence[str]) -> tuple[Wave, ...]:
    ordered = sorted(names, key=lambda name: order_key(strategy.application, name))
    waves, taken = [], 0
    for spec in strategy.waves:
        # cumulative; each wave takes at least one site while any remain
        upto = math.ceil(len(ordered) * (spec.percent or 0) / 100)
        upto = min(len(ordered), max(upto, taken + 1))
        waves.append(Wave(spec, tuple(ordered[taken:upto])))
        taken = upto
    return tuple(waves)


@lru_cache(maxsize=65536)
def order_key(application: str, site: str) -> str:
    """The stable order of percentage steps: the same on every pass and every hub,
    different per application so one fleet's canaries are not always the same sites."""
    return hashlib.sha256(f"{application}/{site}".encode()).hexdigest()


__all__ = ["ALL", "LEGACY", "REST", "Wave", "parse_amount", "strategy_from_spec", "waves_of"]
