"""What a feasibility check is: a name, an order (its cost: the registry runs the
cheapest first) and one rule in vector form, ``codes(ctx, cand)``: a reason code per
candidate site (0: passes), or None when every candidate passes.

The planner's filter calls it with the candidates left; ``explain --site`` and the
incremental planner (is this application touched by a change at site i) call it
with one site. ``LabelCheck`` is a check whose verdict depends only on the site's
labels: it answers once per label set, and the filter runs the leading ones over
label sets instead of sites.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from typing import ClassVar

import numpy as np

from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Bools, Ints
from edgeplane.placement.model import AppView


class Check(ABC):
    name: ClassVar[str]
    """As ``explain --site`` shows it (``selector``, ``siteGroups``, ...)."""
    order: ClassVar[int]
    """Cheapest first: the filter runs checks by ascending order."""

    @abstractmethod
    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        """Why each of ``cand`` cannot take ``ctx.app`` (0: it can); None: all can."""

    def failing(self, ctx: Context, cand: Ints) -> tuple[Ints, Ints] | None:
        """The positions in ``cand`` that fail and their reason codes; None: none fail.
        From ``codes``; a check may define this instead and derive ``codes`` from it
        (``spread``), where its rule is cheaper to say for the few that fail."""
        codes = self.codes(ctx, cand)
        if codes is None:
            return None
        bad: Ints = np.flatnonzero(codes)
        return (bad, codes[bad]) if len(bad) else None

    def dimension(self, reason: str) -> str | None:
        """The capacity dimension a reason of this check says is exhausted, if any."""
        return None


class LabelCheck(Check):
    """A check that answers per label set (shared by applications of equal ``key``)."""

    @abstractmethod
    def key(self, app: AppView) -> Hashable:
        """What of the application the verdict depends on."""

    @abstractmethod
    def reason(self, scope: Scope, app: AppView, labels: Mapping[str, str]) -> str | None:
        """Why sites with ``labels`` cannot take ``app``, or None."""

    def per_set(self, scope: Scope, app: AppView) -> Ints:
        """The reason code for each of the fleet's label sets (cached)."""

        def make() -> Ints:
            sets = scope.fleet.label_sets
            return np.array([scope.reasons(self.reason(scope, app, ls)) for ls in sets], np.int64)

        return scope.caches.get(self.name, self.key(app), make)

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        found: Ints = self.per_set(ctx.scope, ctx.app)[ctx.fleet.label_set[cand]]
        return found


def spread(size: int, found: tuple[Ints, Ints] | None) -> Ints | None:
    """``failing``'s answer as ``codes``: a reason code per candidate (0: passes)."""
    if found is None:
        return None
    codes: Ints = np.zeros(size, dtype=np.int64)
    codes[found[0]] = found[1]
    return codes


def failing_at(
    codes: Ints, bad: Bools, cand: Ints, held: Bools, kept: Ints | None = None
) -> tuple[Ints, Ints] | None:
    """``failing`` from per-site ``codes`` and where they are not 0 (``bad``): one
    boolean read per candidate, the codes only for the few that fail. At sites the
    application holds (``held``) the codes are ``kept`` (None: all pass); a held site
    fails only where a new one would, so ``bad`` still finds every candidate."""
    at: Ints = np.flatnonzero(bad[cand])
    if not len(at):
        return None
    sites = cand[at]
    found: Ints = codes[sites]
    mine = held[sites]
    if mine.any():
        found = np.where(mine, 0 if kept is None else kept[sites], found)
        failed = found != 0
        at, found = at[failed], found[failed]
    return (at, found) if len(at) else None
