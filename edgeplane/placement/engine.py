"""The placement engine's state and its pass: ``Planner(snapshot)`` places every
application by priority (high first), then name, each against what is left after
those before it and what the others hold. For each one: *filter* (``filtering``,
the checks of ``checks``), *score* and *select* (``selection``), then *preempt*:
where a higher priority overdrew a site, lower-priority replicas there are displaced
and placed again in their own turn.

``update(snapshot)`` (``incremental``) places again only what a change touches.
``planner`` is the public face (``place``, ``explain``); this module keeps the state:
the scope (fleet, caches), the ledger, the decisions.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from edgeplane.placement.context import Caches, Context, Scope
from edgeplane.placement.division import bounded
from edgeplane.placement.filtering import feasible
from edgeplane.placement.fleet import Fleet, Ints
from edgeplane.placement.ledger import Ledger
from edgeplane.placement.model import AppView, Decision, Snapshot, holding
from edgeplane.placement.reasons import Metrics, Reasons
from edgeplane.placement.selection import Turn, select

PLACEMENT_FAILED = "placement failed"
"""How the reason of a decision that failed with a fault begins."""


class PlacementOverdue(RuntimeError):
    """The pass passed its deadline; the planner's state is then partial (place anew)."""


@dataclass(frozen=True)
class Preemption:
    """Replicas of ``victim`` at ``site`` displaced by the higher-priority ``preemptor``."""

    site: str
    preemptor: str
    victim: str


class Planner:
    def __init__(
        self, snapshot: Snapshot, watch: str | None = None, deadline: float | None = None
    ) -> None:
        self.reasons = Reasons()
        self.watch = watch
        """An application whose turn ``watched`` keeps (for ``explain --site``)."""
        self.watched: Context | None = None
        self.deadline = deadline
        """A ``time.monotonic()`` after which a pass stops between two applications."""
        self.decisions: dict[str, Decision] = {}
        self.events: dict[str, list[Preemption]] = {}
        """The last pass's preemptions, per application they involve (told once)."""
        self.asked: dict[str, Hashable] = {}
        """Per application: the policy key its last placement asked with (kept when the
        fleet is rebuilt, so a later policy change still finds it)."""
        self.load(snapshot)
        self.run(set(self.apps))

    @property
    def fleet(self) -> Fleet:
        return self.scope.fleet

    def running(self) -> dict[str, dict[str, int]]:
        """The decisions as a snapshot's ``current``: what runs once they are carried out."""
        return {name: dict(d.parts()) for name, d in self.decisions.items()}

    # -- state ------------------------------------------------------------------------

    def load(self, snapshot: Snapshot) -> None:
        """Start over from ``snapshot``: a new fleet, fresh caches, its holdings."""
        self.snapshot = snapshot
        self.policy_version = snapshot.policy.version
        self.apps = {a.name: a for a in snapshot.apps}
        self.scope = Scope(
            Fleet(snapshot.sites),
            snapshot.groups,
            snapshot.policy,
            Caches(),
            self.reasons,
            snapshot.waiting,
            snapshot.avoiding,
        )
        self.ledger = Ledger(self.fleet, self.apps)
        for name, held in snapshot.current.items():
            if name in self.apps:
                idx, counts = self.indices(holding(held))
                if len(idx):
                    self.ledger.add(name, idx, counts)

    def rescope(self, snapshot: Snapshot, caches: Caches | None = None) -> None:
        """The same fleet under new groups or policies (fresh caches unless given)."""
        self.scope = replace(
            self.scope, groups=snapshot.groups, policy=snapshot.policy, caches=caches or Caches()
        )

    def indices(self, held: Mapping[str, int]) -> tuple[Ints, Ints]:
        index = self.fleet.index
        pairs = sorted((index[site], n) for site, n in held.items() if site in index)
        return (
            np.array([i for i, _ in pairs], dtype=np.int64),
            np.array([n for _, n in pairs], dtype=np.int64),
        )

    # -- the pass ---------------------------------------------------------------------

    def run(self, dirty: set[str]) -> set[str]:
        """Place ``dirty`` (and whatever they displace) by priority; returns the
        applications whose decision changed."""
        queue = [(-self.apps[n].priority, n) for n in dirty if n in self.apps]
        heapq.heapify(queue)
        queued = {n for _, n in queue}
        changed = self._untold()
        while queue:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise PlacementOverdue(f"{len(queue)} application(s) still to place")
            _, name = heapq.heappop(queue)
            queued.discard(name)
            decision = self._place_or_fail(self.apps[name])
            if self.decisions.get(name) != decision:
                changed.add(name)
            self.decisions[name] = decision
            for event in self.events.get(name, ()):
                if event.preemptor == name and event.victim not in queued:
                    heapq.heappush(queue, (-self.apps[event.victim].priority, event.victim))
                    queued.add(event.victim)
        for name, events in self.events.items():
            if name in self.decisions:
                self.decisions[name] = _told(self.decisions[name], events)
                changed.add(name)
        return changed

    def _untold(self) -> set[str]:
        """The last pass's preemptions are told once: clear them; returns who had some."""
        cleared = {name for name in self.events if name in self.decisions}
        for name in cleared:
            self.decisions[name] = replace(self.decisions[name], preempted=(), preempting=())
        self.events = {}
        return cleared

    def _place_or_fail(self, app: AppView) -> Decision:
        """One application's placement; a fault in it is that application's failed
        decision (holding nothing), never the end of the pass for the others."""
        try:
            decision, events = self.place(app)
        except Exception as e:  # any fault is reported on its decision
            self.ledger.remove(app.name)
            self.events.pop(app.name, None)
            self.scope.caches.forget("named", app.name)
            why = f"{PLACEMENT_FAILED}: {type(e).__name__}: {str(e)[:200]}"
            return Decision(app.name, (), bounded(app.replicas), (why,))
        for event in events:
            self.events.setdefault(event.victim, []).append(event)
            self.events.setdefault(event.preemptor, []).append(event)
        return decision

    def place(self, app: AppView) -> tuple[Decision, list[Preemption]]:
        """Filter, select, preempt for one application."""
        held_idx, held_counts = self.ledger.remove(app.name)
        held_n = np.zeros(self.fleet.size, dtype=np.int64)
        held_n[held_idx] = held_counts
        ctx = Context(app, self.scope, held_n > 0, self.ledger.room(app))
        if self.watch == app.name:
            self.watched = replace(ctx, room=(ctx.room[0].copy(), ctx.room[1].copy()))
        cand, metrics = self.filter(ctx)
        if "policy" in metrics.checked:
            self.asked[app.name] = self.scope.policy_key(app)
        idx, counts, notes = select(Turn(ctx, cand, held_n, self.ledger.load))
        self.ledger.add(app.name, idx, counts)
        events = []
        if len(idx) and self.ledger.preemptible(app):
            for site, victim in self.ledger.preempt(app, idx):
                events.append(Preemption(self.fleet.names[site], app.name, victim))
        wanted = len(idx) if app.every_site else bounded(app.replicas)
        counted = tuple(counts.tolist()) if app.divided else ()
        lines = (*metrics.lines(), *notes)
        return Decision(app.name, self._named(app.name, idx), wanted, lines, counts=counted), events

    def filter(self, ctx: Context) -> tuple[Ints, Metrics]:
        """The feasible sites and the metrics of the rest (``filtering``)."""
        return feasible(ctx)

    def _named(self, app: str, idx: Ints) -> tuple[str, ...]:
        """The names of sites ``idx``, kept per application: the same sites as last
        time need no naming again."""
        caches = self.scope.caches
        last = caches.peek("named", app)
        if isinstance(last, tuple) and np.array_equal(idx, last[0]):
            names: tuple[str, ...] = last[1]
            return names
        names = tuple(self.fleet.name_array[idx].tolist())
        caches.put("named", app, (idx, names))
        return names


def _told(decision: Decision, events: list[Preemption]) -> Decision:
    me = decision.app
    preempting = tuple((e.site, e.victim) for e in events if e.preemptor == me)
    preempted = tuple((e.site, e.preemptor) for e in events if e.victim == me)
    return replace(decision, preempted=preempted, preempting=preempting)
