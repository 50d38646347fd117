"""The runtime check: a workload goes only where its runtime runs (what runs
elsewhere moves too: it cannot run there)."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView, SiteView


def runtime_reason(app: AppView, site: SiteView) -> str | None:
    """What one site says to the application's runtime."""
    if app.runtime in site.runtimes:
        return None
    if site.declared_runtimes:  # the agent runs less than the site declares: say which
        declared, reported = (
            " and ".join(r) for r in (site.declared_runtimes, site.reported_runtimes)
        )
        if app.runtime in site.declared_runtimes:
            return f"declare {declared} but their agents run {reported} only"
        return f"declare {declared} (their agents run {reported}), the workload is {app.runtime}"
    return f"run {' and '.join(site.runtimes) or 'nothing'}, the workload is {app.runtime}"


class RuntimeCheck(Check):
    name = "runtime"
    order = 30

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        scope, app = ctx.scope, ctx.app

        def make() -> Ints | None:
            sites = scope.fleet.sites
            codes = np.array([scope.reasons(runtime_reason(app, s)) for s in sites], np.int64)
            return codes if codes.any() else None

        per_site = scope.caches.get(self.name, app.runtime, make)
        return None if per_site is None else per_site[cand]
