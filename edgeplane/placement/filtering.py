"""The filter: the registry's checks (``checks.CHECKS``) as one short loop over the
candidates left, cheapest first, filling a ``Metrics`` record. The leading label
checks run over label sets (a fleet of 10,000 sites has a few hundred), shared by
the applications that select alike.

``verdicts_at`` and ``first_reason_at`` ask the same checks about one site: for
``explain --site`` and for the incremental planner.
"""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks import CHECKS, Check, LabelCheck
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.model import AppView
from edgeplane.placement.reasons import Metrics


def _leading() -> tuple[LabelCheck, ...]:
    """The label checks the stack starts with: run per label set, not per site."""
    found: list[LabelCheck] = []
    for check in CHECKS:
        if not isinstance(check, LabelCheck):
            break
        found.append(check)
    return tuple(found)


LEADING = _leading()
REST = CHECKS[len(LEADING) :]


Counts = dict[str, int]
"""Reason text -> sites."""


class _Tally:
    """The counts a filter keeps while it runs (frozen into ``Metrics`` at the end).
    Plain dicts: a thousand applications a pass each make one."""

    def __init__(self) -> None:
        self.reasons: Counts = {}
        self.filtered: Counts = {}
        self.exhausted: Counts = {}
        self.checked: list[str] = []

    def add(self, check: Check, counts: Counts) -> None:
        reasons, filtered, exhausted = self.reasons, self.filtered, self.exhausted
        for why, n in counts.items():
            reasons[why] = reasons.get(why, 0) + n
            filtered[check.name] = filtered.get(check.name, 0) + n
            if dimension := check.dimension(why):
                exhausted[dimension] = exhausted.get(dimension, 0) + n

    def metrics(self, evaluated: int) -> Metrics:
        return Metrics(
            evaluated, self.filtered, self.reasons, self.exhausted, frozenset(self.checked)
        )


def _named(scope: Scope, sums: Ints | Floats) -> Counts:
    """Per reason text, the sites counted under its code in ``sums`` (0 left out)."""
    text, counts = scope.reasons.text, sums.tolist()
    return {text[c]: int(counts[c]) for c in np.flatnonzero(sums).tolist() if c}


def _label_stage(scope: Scope, app: AppView, tally: _Tally) -> Ints:
    """The sites the leading label checks let through (ascending); counts the rest.
    Both are cached per what the label checks read of the application."""
    fleet = scope.fleet

    def make() -> tuple[list[tuple[LabelCheck, Counts]], Ints]:
        passing = np.ones(len(fleet.label_sets), dtype=bool)
        per_check: list[tuple[LabelCheck, Counts]] = []
        for check in LEADING:
            codes: Ints = np.where(passing, check.per_set(scope, app), 0)
            per_check.append((check, _named(scope, np.bincount(codes, weights=fleet.set_size))))
            passing &= codes == 0
        cand: Ints = np.flatnonzero(passing[fleet.label_set])
        return per_check, cand

    key = tuple(check.key(app) for check in LEADING)
    per_check, cand = scope.caches.get("labels", key, make)
    for check, counts in per_check:
        tally.checked.append(check.name)
        tally.add(check, counts)
    return cand


def feasible(ctx: Context) -> tuple[Ints, Metrics]:
    """The sites that can take ``ctx.app`` (ascending) and the metrics of the rest,
    each site counted under the first check it fails. Works on the shrinking list of
    candidates: an application whose selector matches a few hundred sites costs a few
    hundred."""
    tally = _Tally()
    cand = _label_stage(ctx.scope, ctx.app, tally)
    for check in REST:
        if not len(cand):
            break
        tally.checked.append(check.name)
        found = check.failing(ctx, cand)
        if found is None:
            continue
        bad, codes = found
        tally.add(check, _named(ctx.scope, np.bincount(codes)))
        keep = np.ones(len(cand), dtype=bool)
        keep[bad] = False
        cand = cand[keep]
    return cand, tally.metrics(ctx.fleet.size)


def verdicts_at(ctx: Context, site: int) -> list[tuple[str, str | None]]:
    """Every check's answer for one site (for ``explain --site``)."""
    one = np.array([site], dtype=np.int64)
    return [(check.name, _why(ctx, check, one)) for check in CHECKS]


def first_reason_at(ctx: Context, site: int, but: tuple[str, ...] = ()) -> str | None:
    """Why one site cannot take the application (the first check it fails, of those
    not named in ``but``), or None."""
    one = np.array([site], dtype=np.int64)
    for check in CHECKS:  # a plain loop: the incremental planner asks this a lot
        if check.name not in but and (why := _why(ctx, check, one)):
            return why
    return None


def _why(ctx: Context, check: Check, one: Ints) -> str | None:
    codes = check.codes(ctx, one)
    return None if codes is None or not codes[0] else ctx.scope.reasons.text[int(codes[0])]
