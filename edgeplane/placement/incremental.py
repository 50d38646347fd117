"""Incremental planning: from the last snapshot to the next, find what changed and
place again only the applications a change can affect. What a kind of change
invalidates is one table, ``INVALIDATES`` (dask's transitions table, for placement):
which caches go, which applications are placed again, and whether those short of
replicas try again (room may have been freed or added).

Everything else keeps its sites untouched, and the same input always gives the same
result. Whether one application is touched by a change at one site comes from the
checks themselves (``filtering.first_reason_at``), not from a copy of their rules.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from edgeplane.api.sites import SitePhase
from edgeplane.placement.checks.policy import PolicyCheck
from edgeplane.placement.context import Context
from edgeplane.placement.engine import Planner
from edgeplane.placement.filtering import first_reason_at
from edgeplane.placement.fleet import AWAY, Fleet
from edgeplane.placement.ledger import EMPTY
from edgeplane.placement.model import AppView, NoPolicies, SiteView, Snapshot, holding


class Change(Enum):
    """The kinds of change between two snapshots."""

    APP_CHANGED = "an application joined or changed"
    APP_REMOVED = "an application left"
    SITE_STATE = "a site's phase or capacity changed"
    SITE_STRUCTURE = "a site's labels, taints, location, devices or runtimes changed"
    SITES_ADDED_REMOVED = "sites joined or left"
    GROUPS = "the SiteGroups changed"
    POLICY = "the policies changed"
    CURRENT_DIFFERS = "what runs differs from what was decided"
    WAITING = "replicas began or stopped waiting for failover, or avoiding a site"


class Refresh(Enum):
    """What of the planner's state a change makes stale."""

    HOLDING = "the application's holding in the ledger (at its new requests, or as it runs)"
    SITE_ROW = "the site's row in the fleet arrays and its free room in the ledger"
    POLICY = "the cached policy verdicts (asked again, compared with the old)"
    CACHES = "every cache (the groups they read changed)"
    FLEET = "the fleet arrays, every cache and the ledger (rebuilt from the holdings)"


class Retry(Enum):
    """Whether the applications short of replicas try again after the change."""

    ALWAYS = "room may have been freed or added"
    IF_MORE_ROOM = "if the site can take more than before"
    IF_ANY = "if any application is placed again"
    NEVER = "room did not change"


@dataclass
class Replan:
    """One update in progress: what is placed again, and whether room may have grown."""

    planner: Planner
    old: Snapshot
    new: Snapshot
    dirty: set[str] = field(default_factory=set)
    room_grew: bool = False
    rebuilt: bool = False
    dropped: dict[Hashable, object] = field(default_factory=dict)
    """The policy verdicts cached before the policies changed."""

    def run(self) -> set[str]:
        """Apply every change found, then place what they touched; returns the
        applications whose decision changed."""
        planner, snapshot = self.planner, self.new
        policy_changed = snapshot.policy.version != planner.policy_version or not _same_policies(
            snapshot.policy, self.old.policy
        )
        # First: whether a holder stays at a site that just went offline depends on it.
        planner.scope = replace(planner.scope, waiting=snapshot.waiting, avoiding=snapshot.avoiding)
        gone = self._apps()
        self._sites()
        if snapshot.groups != self.old.groups:
            self.apply(Change.GROUPS, None)
        if policy_changed:
            self.apply(Change.POLICY, None)
        planner.policy_version = snapshot.policy.version
        planner.snapshot = snapshot
        planner.scope = replace(planner.scope, groups=snapshot.groups, policy=snapshot.policy)
        self._current()
        self._waiting()
        if self.room_grew:
            self.dirty |= {n for n, d in planner.decisions.items() if d.unplaced}
        return planner.run(self.dirty) | gone

    def apply(self, change: Change, detail: object) -> None:
        """One change, as the table says."""
        rule = INVALIDATES[change]
        self._refresh(rule.refresh, detail)
        again = rule.again(self, detail)
        self.dirty |= again
        if rule.retry is Retry.ALWAYS or (rule.retry is Retry.IF_ANY and again):
            self.room_grew = True
        elif rule.retry is Retry.IF_MORE_ROOM and isinstance(detail, SiteStep):
            self.room_grew |= more_room(detail.before, detail.after)

    def _refresh(self, refresh: Refresh, detail: object) -> None:
        planner = self.planner
        if refresh is Refresh.SITE_ROW and isinstance(detail, SiteStep):
            planner.fleet.replace(detail.index, detail.after)
            planner.ledger.recount(detail.index)
        elif refresh is Refresh.FLEET:
            self._rebuild()
        elif refresh is Refresh.CACHES and not self.rebuilt:
            planner.rescope(self.new)
        elif refresh is Refresh.POLICY:
            self.dropped = planner.scope.caches.drop(PolicyCheck.name)
            planner.scope = replace(planner.scope, policy=self.new.policy)
        # Refresh.HOLDING: the steps below set holdings themselves, once the new set of
        # applications is known.

    def _apps(self) -> set[str]:
        """Gone or changed applications release their holding; a changed one holds it again
        at its new requests. Returns the applications gone."""
        planner, new_apps = self.planner, {a.name: a for a in self.new.apps}
        keep = {}
        for name, app in planner.apps.items():
            if new_apps.get(name) != app:
                if name in new_apps and name in planner.ledger.held:
                    keep[name] = planner.ledger.held[name]
                planner.ledger.forget(app)
                planner.decisions.pop(name, None)
        changed = {name for name, app in new_apps.items() if planner.apps.get(name) != app}
        gone = planner.apps.keys() - new_apps.keys()
        planner.apps.clear()  # the same dict: the ledger reads it
        planner.apps.update(new_apps)
        for name, (idx, counts) in keep.items():
            planner.ledger.add(name, idx, counts)
        for name in gone:
            planner.decisions.pop(name, None)
        if changed:
            self.apply(Change.APP_CHANGED, changed)
        if gone:
            self.apply(Change.APP_REMOVED, gone)
        return gone

    def _sites(self) -> None:
        old, new, fleet = self.old, self.new, self.planner.fleet
        if old.sites is new.sites:
            return
        by_name = {s.name: s for s in new.sites}
        if len(by_name) != fleet.size or any(n not in by_name for n in fleet.names):
            self.apply(Change.SITES_ADDED_REMOVED, _touched_names(fleet, by_name))
            return
        changed = [
            i
            for i, site in enumerate(fleet.sites)
            if by_name[site.name] is not site and by_name[site.name] != site
        ]
        if new.groups != old.groups or any(
            structure(fleet.sites[i]) != structure(by_name[fleet.names[i]]) for i in changed
        ):
            self.apply(Change.SITE_STRUCTURE, _touched_names(fleet, by_name))
            return
        for i in changed:
            self.apply(Change.SITE_STATE, SiteStep(i, fleet.sites[i], by_name[fleet.names[i]]))

    def _rebuild(self) -> None:
        """A new fleet from the new sites; the ledger again from what each application holds."""
        planner = self.planner
        held = {
            name: dict(zip(planner.fleet.name_array[idx].tolist(), counts.tolist(), strict=True))
            for name, (idx, counts) in planner.ledger.held.items()
        }
        planner.load(replace(self.new, apps=tuple(planner.apps.values()), current=held))
        self.rebuilt = True

    def _current(self) -> None:
        """Where what runs differs from what was decided (a write that failed, an
        assignment deleted by hand), believe the snapshot and place again."""
        planner, old, new = self.planner, self.old, self.new
        if new.current is old.current:
            return
        differs = set()
        for name in planner.apps:
            now = new.current.get(name)
            if now is old.current.get(name) and now is not None:
                continue
            idx, counts = planner.indices(holding(now or ()))
            have, have_counts = planner.ledger.held.get(name, EMPTY)
            if name in self.dirty or (
                np.array_equal(idx, have) and np.array_equal(counts, have_counts)
            ):
                continue
            planner.ledger.remove(name)
            if len(idx):
                planner.ledger.add(name, idx, counts)
            differs.add(name)
        if differs:
            self.apply(Change.CURRENT_DIFFERS, differs)

    def _waiting(self) -> None:
        """Applications whose replicas began or stopped waiting at an offline site (a
        failover came due, or the site came back), or that began or stopped avoiding a
        site, are placed again."""
        changed: set[str] = set()
        for old, new in (
            (self.old.waiting, self.new.waiting),
            (self.old.avoiding, self.new.avoiding),
        ):
            if new is not old:
                changed |= {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
        if changed & self.planner.apps.keys():
            self.apply(Change.WAITING, changed & self.planner.apps.keys())


Again = Callable[[Replan, object], set[str]]


@dataclass(frozen=True)
class Invalidates:
    refresh: Refresh
    again: Again
    """The applications placed again, given what the change was about."""
    retry: Retry


def _itself(replan: Replan, names: object) -> set[str]:
    assert isinstance(names, set)
    return names


def _nothing(replan: Replan, detail: object) -> set[str]:
    return set()


def _touched_at(replan: Replan, site: object) -> set[str]:
    """Those whose verdict at the site flips: holding it and no longer feasible there,
    or not holding it, feasible now, and wanting more."""
    assert isinstance(site, SiteStep)
    return touched_by(replan.planner, site.index)


def _holding_or_wide(replan: Replan, touched: object) -> set[str]:
    """EverySite and Divided by static weights (every site counts for them), and those
    holding a changed or removed site."""
    assert isinstance(touched, set)
    planner = replan.planner
    wide = {
        a.name for a in planner.apps.values() if a.every_site or (a.divided and a.static_weights)
    }
    holding = {a for a, d in planner.decisions.items() if touched.intersection(d.sites)}
    return wide | holding


def _naming_groups(replan: Replan, detail: object) -> set[str]:
    return {n for n, a in replan.planner.apps.items() if names_groups(a)}


def _verdicts_changed(replan: Replan, detail: object) -> set[str]:
    return policy_changes(replan.planner, replan.dropped)


INVALIDATES: dict[Change, Invalidates] = {
    Change.APP_CHANGED: Invalidates(Refresh.HOLDING, _itself, Retry.ALWAYS),
    Change.APP_REMOVED: Invalidates(Refresh.HOLDING, _nothing, Retry.ALWAYS),
    Change.SITE_STATE: Invalidates(Refresh.SITE_ROW, _touched_at, Retry.IF_MORE_ROOM),
    Change.SITE_STRUCTURE: Invalidates(Refresh.FLEET, _holding_or_wide, Retry.ALWAYS),
    Change.SITES_ADDED_REMOVED: Invalidates(Refresh.FLEET, _holding_or_wide, Retry.ALWAYS),
    Change.GROUPS: Invalidates(Refresh.CACHES, _naming_groups, Retry.ALWAYS),
    Change.POLICY: Invalidates(Refresh.POLICY, _verdicts_changed, Retry.IF_ANY),
    Change.CURRENT_DIFFERS: Invalidates(Refresh.HOLDING, _itself, Retry.NEVER),
    Change.WAITING: Invalidates(Refresh.HOLDING, _itself, Retry.NEVER),
}
"""Change kind -> what it invalidates."""


@dataclass(frozen=True)
class SiteStep:
    """A site whose phase or capacity changed: its index, before and after."""

    index: int
    before: SiteView
    after: SiteView


def update(planner: Planner, snapshot: Snapshot) -> set[str]:
    """Move ``planner`` to ``snapshot``, placing again only what its changes can affect;
    returns the applications whose decision changed."""
    return Replan(planner, planner.snapshot, snapshot).run()


def _touched_names(fleet: Fleet, by_name: dict[str, SiteView]) -> set[str]:
    before = {s.name: s for s in fleet.sites}
    changed = {n for n, s in by_name.items() if before.get(n) is None or before[n] != s}
    return changed | (before.keys() - by_name.keys())


def touched_by(planner: Planner, i: int) -> set[str]:
    """Applications whose verdict at site ``i`` is now different: those holding it that
    may no longer, and those not holding it that now could and want more. The verdict
    is the checks' own, at one site, against the room left now (a holder's own
    replicas are counted in already: the site must not be overdrawn)."""
    touched: set[str] = set()
    held = np.zeros(planner.fleet.size, dtype=bool)
    free = (planner.ledger.free_cpu, planner.ledger.free_memory)
    own = (free[0].copy(), free[1].copy())
    holders = planner.ledger.holders(i)
    for name, app in planner.apps.items():
        holds = name in holders
        decision = planner.decisions.get(name)
        if not holds and decision is not None and not app.every_site and not decision.unplaced:
            continue  # wants nothing more
        held[i] = holds
        own[0][i] = free[0][i] + app.cpu_millis
        own[1][i] = free[1][i] + app.memory_bytes
        fits = first_reason_at(Context(app, planner.scope, held, own if holds else free), i) is None
        if fits != holds:
            touched.add(name)
    return touched


def policy_changes(planner: Planner, dropped: dict[Hashable, object]) -> set[str]:
    """Ask the policies again for what was asked before; the applications whose
    verdicts changed (or that the policies now see differently) are placed again."""
    asked, planner.asked = planner.asked, {}
    check, scope = PolicyCheck(), planner.scope
    dirty: set[str] = set()
    for name, app in planner.apps.items():
        if name not in asked:  # never asked: no decision depended on policies
            continue
        key = planner.asked[name] = scope.policy_key(app)
        before = dropped.get(("sets", key)) if key == asked[name] else None
        after = check.per_set(scope, app, key)
        if not isinstance(before, tuple) or not all(
            np.array_equal(a, b) for a, b in zip(after, before, strict=True)
        ):
            dirty.add(name)
    return dirty


def _same_policies(new: object, old: object) -> bool:
    """The same policies object (or both none: each snapshot makes its own NoPolicies)."""
    return new is old or (type(new) is NoPolicies and type(old) is NoPolicies)


def names_groups(app: AppView) -> bool:
    """Whether the application's placement depends on SiteGroups."""
    return bool(
        app.site_groups
        or (app.locality is not None and app.locality.site_group)
        or any(w.site_group for w in app.static_weights)
    )


def more_room(before: SiteView, after: SiteView) -> bool:
    """Whether a site can take more than it could (capacity, or a phase that takes)."""

    def takes(site: SiteView) -> bool:
        return not site.unschedulable and site.phase not in (SitePhase.CORDONED, *AWAY)

    def more(a: int | None, b: int | None) -> bool:
        return (b is None and a is not None) or (a is not None and b is not None and b > a)

    return (
        (takes(after) and not takes(before))
        or more(before.cpu_millis, after.cpu_millis)
        or more(before.memory_bytes, after.memory_bytes)
        or (after.phase == SitePhase.ONLINE and before.phase != SitePhase.ONLINE)
    )


def structure(site: SiteView) -> tuple[object, ...]:
    """What a site change must rebuild the fleet arrays for."""
    return (
        dict(site.labels),
        site.taints,
        site.location,
        site.devices,
        site.runtimes,
        site.declared_runtimes,
        site.reported_runtimes,
    )
