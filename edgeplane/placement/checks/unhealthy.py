"""The unhealthy-instance check: a site where the application's instance stayed
unhealthy (Unhealthy, CrashLoopBackOff, Failed) for longer than its
``failover.unhealthyAfterSeconds`` takes it no more for a while, so placement moves it
to a site where it may run (application-level failover; the hub's failover controller
decides which sites, ``Snapshot.avoiding``). The site stays reachable and keeps
everything else."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context
from edgeplane.placement.fleet import Ints

UNHEALTHY = "had its instance unhealthy for longer than failover.unhealthyAfterSeconds"


class UnhealthyCheck(Check):
    name = "unhealthy"
    order = 45

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        avoided = ctx.among(cand, ctx.scope.avoiding.get(ctx.app.name))
        if avoided is None:
            return None
        found: Ints = np.where(avoided, ctx.code(UNHEALTHY), 0)
        return found
