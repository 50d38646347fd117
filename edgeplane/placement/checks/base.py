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
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView


class Check(ABC):
    name: ClassVar[str]
    """As ``explain --site`` shows it (``selector``, ``siteGroups``, ...)."""
    order: ClassVar[int]
    """Cheapest first: the filter runs checks by ascending order."""

    @abstractmethod
    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        """Why each of ``cand`` cannot take ``ctx.app`` (0: it can); None: all can."""

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
