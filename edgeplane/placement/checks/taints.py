"""The taints check: NoSchedule keeps new applications off (what runs stays);
NoExecute also sends away what runs. PreferNoSchedule only ranks the site lower
(a scorer)."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check, failing_at
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView, TaintView


def tolerated(app: AppView, taint: TaintView) -> bool:
    for toleration in app.tolerations:
        if toleration.effect not in (None, taint.effect):
            continue
        if toleration.key is None and toleration.operator == "Exists":
            return True
        if toleration.key == taint.key and (
            toleration.operator == "Exists" or (toleration.value or "") == (taint.value or "")
        ):
            return True
    return False


def taints_reason(app: AppView, taints: tuple[TaintView, ...], held: bool) -> str | None:
    """What one taint set says to the application (held: it runs there already)."""
    for taint in taints:
        if taint.effect == "PreferNoSchedule" or tolerated(app, taint):
            continue
        if taint.effect == "NoExecute" or not held:
            return f"had untolerated taint {taint.key}={taint.value or ''}:{taint.effect}"
    return None


class TaintCheck(Check):
    name = "taints"
    order = 50

    def per_site(self, scope: Scope, app: AppView, held: bool) -> Ints | None:
        """Per site: why its taints keep ``app`` off (None: nowhere)."""

        def make() -> Ints | None:
            sets = scope.fleet.taint_sets
            per_set = np.array([scope.reasons(taints_reason(app, t, held)) for t in sets], np.int64)
            found: Ints = per_set[scope.fleet.taint_set]
            return found if per_set.any() else None

        return scope.caches.get(self.name, (app.tolerations, held), make)

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        if len(ctx.fleet.taint_sets) < 2:
            return None
        new = self.per_site(ctx.scope, ctx.app, False)
        if new is None:
            return None
        held = ctx.held_at(cand)
        if held is None:
            return new[cand]
        kept = self.per_site(ctx.scope, ctx.app, True)
        found: Ints = np.where(held, 0 if kept is None else kept[cand], new[cand])
        return found

    def failing(self, ctx: Context, cand: Ints) -> tuple[Ints, Ints] | None:
        # Most sites have no taints: read one boolean per candidate, not a code.
        if len(ctx.fleet.taint_sets) < 2:
            return None
        scope, app = ctx.scope, ctx.app
        new = self.per_site(scope, app, False)
        if new is None:
            return None
        bad = scope.caches.get(self.name, ("bad", app.tolerations), lambda: new != 0)
        kept = self.per_site(scope, app, True) if ctx.holds else None
        return failing_at(new, bad, cand, ctx.held, kept)
