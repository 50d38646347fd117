"""``explain``: why an application is where it is; with a site, that site's verdict
from every check (the checks' own rule at one site), against the room left when the
application's turn came."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeplane.placement.context import Context
from edgeplane.placement.engine import Planner
from edgeplane.placement.filtering import verdicts_at
from edgeplane.placement.model import Decision, Snapshot, holding


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    site: str | None = None
    checks: tuple[tuple[str, str | None], ...] = ()
    """For one site: each check's name and why it failed (None: passed)."""


def explain(
    snapshot: Snapshot,
    app_name: str,
    site_name: str | None = None,
    deadline: float | None = None,
) -> Explanation:
    """KeyError for an unknown application or site."""
    names = {s.name for s in snapshot.sites}
    if site_name is not None and site_name not in names:
        raise KeyError(site_name)
    planner = Planner(snapshot, app_name if site_name is not None else None, deadline)
    if app_name not in planner.decisions:
        raise KeyError(app_name)
    decision = planner.decisions[app_name]
    if site_name is None:
        return Explanation(decision)
    site = planner.fleet.index[site_name]
    turn = planner.watched
    if turn is None:
        held = np.zeros(planner.fleet.size, dtype=bool)
        held[site] = site_name in holding(snapshot.current.get(app_name, ()))
        unlimited = np.full(planner.fleet.size, np.inf)
        ctx = Context(planner.apps[app_name], planner.scope, held, (unlimited, unlimited))
    else:
        # What the application held when its turn came, not what the snapshot says:
        # a higher priority may have displaced it from the site earlier in the pass.
        ctx = turn
    return Explanation(decision, site_name, tuple(verdicts_at(ctx, site)))
