"""What the checks and scorers are given: the ``Scope`` of a pass (fleet, groups,
policies, the shared caches, the reason interner) and, per application, its
``Context`` (which sites it holds, the room left at each).

``Caches`` holds everything derived from the fleet and the groups (label-set
verdicts, taint codes, distances, tiers), keyed by owner; the planner drops it as a
unit when the fleet is rebuilt or the groups change, and one owner's entries (the
policy verdicts) when the policies change.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar, cast

import numpy as np

from edgeplane.api.selectors import Selector
from edgeplane.placement.fleet import Bools, Fleet, Floats, Ints
from edgeplane.placement.model import AppView, Policies
from edgeplane.placement.reasons import Reasons

T = TypeVar("T")
_MISSING = object()


class Caches:
    """Memo tables, one per owner (a check, a scorer, the selection)."""

    def __init__(self) -> None:
        self._memo: dict[str, dict[Hashable, object]] = {}

    def get(self, owner: str, key: Hashable, make: Callable[[], T]) -> T:
        table = self._memo.get(owner)
        if table is None:
            table = self._memo[owner] = {}
        found = table.get(key, _MISSING)
        if found is _MISSING:
            found = table[key] = make()
        return cast(T, found)

    def put(self, owner: str, key: Hashable, value: object) -> None:
        self._memo.setdefault(owner, {})[key] = value

    def peek(self, owner: str, key: Hashable) -> object | None:
        return self._memo.get(owner, {}).get(key)

    def forget(self, owner: str, key: Hashable) -> None:
        self._memo.get(owner, {}).pop(key, None)

    def drop(self, owner: str) -> dict[Hashable, object]:
        """Forget one owner's entries; returns them (to compare with what comes next)."""
        return self._memo.pop(owner, {})


@dataclass(frozen=True)
class Scope:
    """What every application of a pass shares."""

    fleet: Fleet
    groups: Mapping[str, Selector]
    policy: Policies
    caches: Caches
    reasons: Reasons
    waiting: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Offline sites an application's replicas wait at for failover (``Snapshot``)."""
    avoiding: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Sites an application avoids: its instance stayed unhealthy there (``Snapshot``)."""

    def per_site(self, per_set: Ints) -> Ints:
        """A per-label-set array spread to every site."""
        found: Ints = per_set[self.fleet.label_set]
        return found

    def policy_key(self, app: AppView) -> Hashable:
        """What of ``app`` the policy verdicts depend on (``Policies.key``), asked once
        per application object while the policies last."""
        found = self.caches.peek("policy", ("key", app.name))
        if isinstance(found, tuple) and found[0] is app:
            known: Hashable = found[1]
            return known
        key = self.policy.key(app)
        self.caches.put("policy", ("key", app.name), (app, key))
        return key

    def matching(self, selector: Selector | None) -> Bools:
        """Per label set: whether ``selector`` matches it (nothing for None)."""
        sets = self.fleet.label_sets
        return np.array([selector is not None and selector.matches(ls) for ls in sets], bool)


@dataclass(frozen=True)
class Context:
    """One application's turn: what it holds (``held``, per site) and the room left for
    it (cpu, memory per site; infinite where unlimited)."""

    app: AppView
    scope: Scope
    held: Bools
    room: tuple[Floats, Floats]

    @property
    def fleet(self) -> Fleet:
        return self.scope.fleet

    @cached_property
    def holds(self) -> bool:
        """Whether the application holds any site (in a full plan none does: the checks
        that treat held sites apart skip that work)."""
        return bool(self.held.any())

    def held_at(self, cand: Ints) -> Bools | None:
        """Which of ``cand`` the application holds; None when it holds none of them."""
        if not self.holds:
            return None
        held = self.held[cand]
        return held if held.any() else None

    def code(self, text: str | None) -> int:
        return self.scope.reasons(text)

    def waiting_at(self, cand: Ints) -> Bools | None:
        """Which of ``cand`` are offline sites this application's replicas wait at for
        their failover to come due; None when there are none."""
        return self.among(cand, self.scope.waiting.get(self.app.name))

    def among(self, cand: Ints, names: frozenset[str] | None) -> Bools | None:
        """Which of ``cand`` are the sites named; None when none is."""
        if not names:
            return None
        index = self.fleet.index
        at = np.array([index[n] for n in names if n in index], dtype=cand.dtype)
        waits = np.isin(cand, at)
        return waits if waits.any() else None
