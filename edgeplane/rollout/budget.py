"""Budgets: how many more sites a step may take down, by ``maxUnavailable``.

The fleet's ``maxUnavailable`` of its reachable sites (and, per wave, the wave's of the
wave's reachable sites), at least one so a rollout can always move, minus the sites
already unavailable (reachable, not Ready, at any revision; failed at the target
excepted) in that scope. Offline sites count in neither. ``machine`` spends it on
Ready sites only: moving a site that is already unavailable takes nothing more down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from edgeplane.rollout.model import SiteView, Strategy
from edgeplane.rollout.strategy import Wave


class Budget:
    """How many more available sites may be taken down now: the fleet's
    ``maxUnavailable`` of its reachable sites (and, per wave, the wave's), at least
    one, minus the sites already unavailable in that scope. Sites failed at the target
    are not counted: ``failureThreshold`` tolerated them, and counting them as well
    would stall the rollout for good (they never become Ready)."""

    def __init__(
        self,
        strategy: Strategy,
        views: Mapping[str, SiteView],
        waves: Sequence[Wave],
        failed: Collection[str],
    ) -> None:
        reachable = [site for site in views.values() if site.reachable]
        self.failed = failed
        self.fleet = self._left(strategy.max_unavailable.of(len(reachable)), reachable)
        self.wave_of: dict[str, int] = {}
        self.waves: list[int | None] = []
        for index, wave in enumerate(waves):
            self.wave_of.update(dict.fromkeys(wave.sites, index))
            cap = wave.spec.max_unavailable
            live = [views[name] for name in wave.sites if views[name].reachable]
            self.waves.append(None if cap is None else self._left(cap.of(len(live)), live))

    def spend(self, site: str) -> bool:
        index = self.wave_of.get(site)
        wave = None if index is None else self.waves[index]
        if self.fleet <= 0 or (wave is not None and wave <= 0):
            return False
        self.fleet -= 1
        if index is not None and wave is not None:
            self.waves[index] = wave - 1
        return True

    def _left(self, cap: int, reachable: Sequence[SiteView]) -> int:
        down = sum(1 for site in reachable if not site.ready and site.name not in self.failed)
        return max(1, cap) - down
