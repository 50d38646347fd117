"""The phase check: cordoned sites take nothing; Offline and Pending ones take nothing
new. What an EverySite application runs there stays (it goes on running offline),
while Replicas move once their failover is due: until then they wait where they are
(``Snapshot.waiting``, decided by ``health.failover``). (A Pending site joined but its
agent never reported: it may never, a token used by someone who went away.)"""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context
from edgeplane.placement.fleet import Ints

CORDONED = "are cordoned"
OFFLINE = "are offline or have not reported since they joined"


class PhaseCheck(Check):
    name = "phase"
    order = 40

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        fleet = ctx.fleet
        if not (fleet.any_cordoned or fleet.any_offline):
            return None
        away = fleet.offline[cand]
        if ctx.app.every_site and (held := ctx.held_at(cand)) is not None:
            away &= ~held
        elif (waits := ctx.waiting_at(cand)) is not None and (
            held := ctx.held_at(cand)
        ) is not None:
            away &= ~(held & waits)
        cordoned = fleet.cordoned[cand]
        if not (away.any() or cordoned.any()):
            return None
        codes = np.where(away, ctx.code(OFFLINE), 0)
        found: Ints = np.where(cordoned, ctx.code(CORDONED), codes)
        return found
