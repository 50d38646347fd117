"""The placement engine: filter, score, select and divide, for every application, over
arrays of the whole fleet; and again, incrementally, for only the applications a
change touches.

``Planner(snapshot)`` places everything: applications by priority (high first), then
name, each against what is left after those before it and what the others hold. For
each one:

1. *filter* (the checks of ``checks``, as vector operations): the label checks
   (selector, siteGroups, and policy, whose verdicts are cached) run once per
   distinct label set; runtime, phase, taints, capacity, devices and locality per
   site. Every
   site left out is counted under its reason, Nomad-style
   ("40 site(s) had too little memory left (need 512Mi)");
2. *score* the feasible sites (``scorers``);
3. *select*: EverySite takes every feasible site; Replicas/Duplicated takes the N best,
   one spread domain at a time; Replicas/Divided splits N replicas by static weights
   or by how many each site can take; ordered siteGroups fill the first group first;
4. *preempt*: where a higher priority overdrew a site, lower-priority replicas there
   are displaced and placed again in their own turn.

``update(snapshot)`` compares the new snapshot with the last and places again only
the applications a change can affect: those that changed, that hold a changed site
or could now take it, whose policy verdicts changed, that were displaced, or that are
not fully placed. Everything else keeps its sites untouched, and the same input
always gives the same result.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from edgeplane.api.selectors import Selector
from edgeplane.placement import checks, scorers
from edgeplane.placement.division import (
    bounded,
    divide,
    divide_by_domain,
    limit_groups,
    pick,
    spread_quotas,
)
from edgeplane.placement.fleet import Bools, Fleet, Floats, Ints
from edgeplane.placement.ledger import EMPTY, Ledger
from edgeplane.placement.model import (
    AppView,
    Decision,
    Locality,
    NoPolicies,
    SiteView,
    Snapshot,
    StaticWeight,
    holding,
)


class Reasons:
    """Reason texts as small integers (0: no reason), so arrays can carry them."""

    def __init__(self) -> None:
        self.text = [""]
        self._code = {"": 0}

    def __call__(self, text: str | None) -> int:
        if not text:
            return 0
        code = self._code.get(text)
        if code is None:
            code = self._code[text] = len(self.text)
            self.text.append(text)
        return code


def histogram(reasons: Counter[str]) -> tuple[str, ...]:
    return tuple(f"{n} site(s) {why}" for why, n in sorted(reasons.items()))


@dataclass
class Watch:
    """For ``explain --site``: the room one site had when one application's turn came."""

    app: str
    site: int
    room: checks.Room | None = None


PLACEMENT_FAILED = "placement failed"
"""How the reason of a decision that failed with a fault begins."""


class PlacementOverdue(RuntimeError):
    """The pass passed its deadline; the planner's state is then partial (place anew)."""


class Planner:
    def __init__(
        self, snapshot: Snapshot, watch: Watch | None = None, deadline: float | None = None
    ) -> None:
        self.reasons = Reasons()
        self.watch = watch
        self.deadline = deadline
        """A ``time.monotonic()`` after which a pass stops between two applications."""
        self.decisions: dict[str, Decision] = {}
        self._events: dict[str, list[tuple[str, str]]] = {}
        self._asked: dict[str, Hashable] = {}
        """Per application: the policy key its last placement asked with (kept when the
        fleet is rebuilt, so a later policy change still finds it)."""
        self._load(snapshot)
        self._run(set(self.apps))

    def running(self) -> dict[str, dict[str, int]]:
        """The decisions as a snapshot's ``current``: what runs once they are carried out."""
        return {name: dict(d.parts()) for name, d in self.decisions.items()}

    # -- state ------------------------------------------------------------------------

    def _load(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._policy_version = snapshot.policy.version
        self.fleet = Fleet(snapshot.sites)
        self.apps = {a.name: a for a in snapshot.apps}
        self._fresh_caches()
        self.ledger = Ledger(self.fleet, self.apps)
        for name, held in snapshot.current.items():
            if name in self.apps:
                idx, counts = self._indices(holding(held))
                if len(idx):
                    self.ledger.add(name, idx, counts)

    def _fresh_caches(self) -> None:
        self._labels: dict[tuple[Selector, tuple[str, ...]], tuple[Ints, Ints]] = {}
        self._policies: dict[Hashable, tuple[Ints, Bools]] = {}
        self._tiers: dict[tuple[str, ...], Ints] = {}
        self._taints: dict[tuple[object, bool], Ints | None] = {}
        self._runtimes: dict[str, Ints | None] = {}
        self._policy_sites: dict[Hashable, tuple[Ints, Bools]] = {}
        self._near: dict[Locality, Floats] = {}
        self._named: dict[str, tuple[Ints, tuple[str, ...]]] = {}
        """Per application: the sites last placed at, as indices and as names."""

    def _indices(self, held: Mapping[str, int]) -> tuple[Ints, Ints]:
        pairs = sorted(
            (self.fleet.index[site], n) for site, n in held.items() if site in self.fleet.index
        )
        return (
            np.array([i for i, _ in pairs], dtype=np.int64),
            np.array([n for _, n in pairs], dtype=np.int64),
        )

    # -- the pass ---------------------------------------------------------------------

    def _run(self, dirty: set[str]) -> set[str]:
        """Place ``dirty`` (and whatever they displace) by priority; returns the
        applications whose decision changed."""
        queue = [(-self.apps[n].priority, n) for n in dirty if n in self.apps]
        heapq.heapify(queue)
        queued = {n for _, n in queue}
        changed: set[str] = set()
        for name in self._events:  # the last pass's preemptions are told once
            if name in self.decisions:
                self.decisions[name] = replace(self.decisions[name], preempted=(), preempting=())
                changed.add(name)
        self._events = {}
        while queue:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise PlacementOverdue(f"{len(queue)} application(s) still to place")
            _, name = heapq.heappop(queue)
            queued.discard(name)
            decision = self._place_or_fail(self.apps[name])
            if self.decisions.get(name) != decision:
                changed.add(name)
            self.decisions[name] = decision
            for site, victim in self._events.get(name, ()):
                if site.startswith("+") and victim not in queued:
                    heapq.heappush(queue, (-self.apps[victim].priority, victim))
                    queued.add(victim)
        for name in self._events:
            if name in self.decisions:
                self.decisions[name] = self._with_events(self.decisions[name])
                changed.add(name)
        return changed

    def _with_events(self, decision: Decision) -> Decision:
        events = self._events.get(decision.app, [])
        preempting = tuple((s[1:], v) for s, v in events if s.startswith("+"))
        preempted = tuple((s[1:], v) for s, v in events if s.startswith("-"))
        return replace(decision, preempted=preempted, preempting=preempting)

    def _place_or_fail(self, app: AppView) -> Decision:
        """One application's placement; a fault in it is that application's failed
        decision (holding nothing), never the end of the pass for the others."""
        try:
            return self._place(app)
        except Exception as e:  # any fault is reported on its decision
            self.ledger.remove(app.name)
            self._events.pop(app.name, None)
            self._named.pop(app.name, None)
            why = f"{PLACEMENT_FAILED}: {type(e).__name__}: {str(e)[:200]}"
            return Decision(app.name, (), bounded(app.replicas), (why,))

    def _place(self, app: AppView) -> Decision:
        held_idx, held_counts = self.ledger.remove(app.name)
        held = np.zeros(self.fleet.size, dtype=bool)
        held[held_idx] = True
        room = self.ledger.room(app)
        if self.watch and self.watch.app == app.name:
            site = self.watch.site
            cpu, memory = float(room[0][site]), float(room[1][site])
            self.watch.room = checks.Room(
                None if np.isinf(cpu) else cpu, None if np.isinf(memory) else memory
            )
        cand, why = self._feasible(app, held, room)
        extra: list[str] = []
        if app.every_site:
            idx, counts = cand, np.ones(len(cand), dtype=np.int64)
        elif app.divided:
            held_n = np.zeros(self.fleet.size, dtype=np.int64)
            held_n[held_idx] = held_counts
            idx, counts = self._divided(app, cand, held_n, room, extra)
        else:
            idx = self._duplicated(app, cand, held, room, extra)
            counts = np.ones(len(idx), dtype=np.int64)
        self.ledger.add(app.name, idx, counts)
        if len(idx) and self.ledger.preemptible(app):
            for site, victim in self.ledger.preempt(app, idx):
                name = self.fleet.names[site]
                self._events.setdefault(victim, []).append(("-" + name, app.name))
                self._events.setdefault(app.name, []).append(("+" + name, victim))
        named = self._named.get(app.name)
        if named is not None and np.array_equal(idx, named[0]):
            sites = named[1]  # the same sites as last time: no need to name them again
        else:
            sites = tuple(self.fleet.name_array[idx].tolist())
            self._named[app.name] = (idx, sites)
        wanted = len(idx) if app.every_site else bounded(app.replicas)
        return Decision(
            app.name,
            sites,
            wanted,
            (*histogram(why), *extra),
            counts=tuple(counts.tolist()) if app.divided else (),
        )

    # -- filter -----------------------------------------------------------------------

    def _label_codes(self, app: AppView) -> tuple[Ints, Ints]:
        """Per label set, why the selector or siteGroups exclude it (0: they do not);
        and the sites that pass, ascending. Shared by applications that select alike."""
        key = (app.selector, app.site_groups)
        found = self._labels.get(key)
        if found is None:
            groups = self.snapshot.groups
            codes = np.array(
                [
                    self.reasons(
                        checks.selector_reason(app, labels)
                        or checks.groups_reason(app, labels, groups)
                    )
                    for labels in self.fleet.label_sets
                ],
                dtype=np.int64,
            )
            found = self._labels[key] = (codes, np.flatnonzero((codes == 0)[self.fleet.label_set]))
        return found

    def _policy_codes(self, app: AppView) -> tuple[Ints | None, Bools]:
        """Per site: why policy excludes it (None: nowhere), and whether a site held
        already may stay. Asked once per policy key (applications the policies see
        alike), for every label set at once."""
        key = self._asked[app.name] = self.snapshot.policy.key(app)
        found = self._policies.get(key)
        if found is None:
            answers = self.snapshot.policy.verdicts(app, self.fleet.label_sets)
            codes = np.array([self.reasons(why) for why, _ in answers], dtype=np.int64)
            stay = np.array([stay for _, stay in answers], dtype=bool)
            found = self._policies[key] = (codes, stay)
        codes, stay = found
        if not codes.any():
            return None, stay
        sites = self._policy_sites.get(key)
        if sites is None:
            sites = self._policy_sites[key] = (
                codes[self.fleet.label_set],
                stay[self.fleet.label_set],
            )
        return sites

    def _runtime_codes(self, app: AppView) -> Ints | None:
        """Per site: why it cannot run ``app``'s runtime (None: every site can)."""
        if app.runtime not in self._runtimes:
            codes = np.array(
                [self.reasons(checks.runtime_reason(app, site)) for site in self.fleet.sites],
                dtype=np.int64,
            )
            self._runtimes[app.runtime] = codes if codes.any() else None
        return self._runtimes[app.runtime]

    def _taint_codes(self, app: AppView, held: bool) -> Ints | None:
        """Per site: why its taints keep ``app`` off (None: they keep it off nowhere)."""
        key = (app.tolerations, held)
        if key not in self._taints:
            per_set = np.array(
                [
                    self.reasons(
                        checks.taints_reason(app, SiteView("", {}, taints=taints), held)
                        if taints
                        else None
                    )
                    for taints in self.fleet.taint_sets
                ],
                dtype=np.int64,
            )
            self._taints[key] = per_set[self.fleet.taint_set] if per_set.any() else None
        return self._taints[key]

    def distance(self, locality: Locality) -> Floats:
        found = self._near.get(locality)
        if found is None:
            if locality.point is not None:
                found = self.fleet.distance_km(*locality.point)
            else:
                selector = self.snapshot.groups.get(locality.site_group or "")
                members = np.flatnonzero(
                    np.array(
                        [
                            selector is not None and selector.matches(ls)
                            for ls in self.fleet.label_sets
                        ],
                        dtype=bool,
                    )[self.fleet.label_set]
                )
                found = self.fleet.distance_to_sites(members)
            self._near[locality] = found
        return found

    def _feasible(
        self, app: AppView, held: Bools, room: tuple[Floats, Floats]
    ) -> tuple[Ints, Counter[str]]:
        """The sites that can take ``app`` (ascending), and every other site counted
        under the first check it fails. Works on the shrinking list of candidates, so
        an application whose selector matches a few hundred sites costs a few hundred."""
        fleet, text = self.fleet, self.reasons.text
        why: Counter[str] = Counter()
        labels, cand = self._label_codes(app)
        bad = np.flatnonzero(labels)
        if len(bad):
            sums = np.bincount(labels[bad], weights=fleet.set_size[bad])
            for code in np.flatnonzero(sums).tolist():
                why[text[code]] += int(sums[code])
        holds = bool(held[cand].any()) if len(cand) else False

        def keep(passes: Bools, reason: str) -> None:
            nonlocal cand
            kept = cand[passes]
            if len(kept) < len(cand):
                why[reason] += len(cand) - len(kept)
                cand = kept

        def by_code(codes: Ints) -> None:
            nonlocal cand
            counts = np.bincount(codes)
            for code in np.flatnonzero(counts[1:]).tolist():
                why[text[code + 1]] += int(counts[code + 1])
            cand = cand[codes == 0]

        if len(cand) and (runtimes := self._runtime_codes(app)) is not None:
            by_code(runtimes[cand])
        if fleet.any_cordoned:
            keep(~fleet.cordoned[cand], checks.CORDONED)
        if fleet.any_offline:
            offline = fleet.offline[cand]
            keep(~(offline & ~held[cand]) if app.every_site else ~offline, checks.OFFLINE)
        if len(fleet.taint_sets) > 1:
            new, kept = self._taint_codes(app, False), self._taint_codes(app, True)
            if new is not None:
                codes = new[cand]
                if holds and kept is not None:
                    codes = np.where(held[cand], kept[cand], codes)
                elif holds:
                    codes = np.where(held[cand], 0, codes)
                by_code(codes)
        if (app.cpu_millis or app.memory_bytes) and len(cand):
            # Only what the application asks for: a site overdrawn in memory still has
            # room for an application that needs only cpu.
            everywhere = np.ones(len(cand), dtype=bool)
            cpu_ok = room[0][cand] >= app.cpu_millis if app.cpu_millis else everywhere
            memory_ok = room[1][cand] >= app.memory_bytes if app.memory_bytes else everywhere
            if short := len(cand) - int(np.count_nonzero(cpu_ok)):
                why[checks.cpu_reason(app)] += short
            fits = cpu_ok & memory_ok
            if short := int(np.count_nonzero(cpu_ok)) - int(np.count_nonzero(fits)):
                why[checks.memory_reason(app)] += short
            cand = cand[fits]
        for i, need in enumerate(app.devices):
            count = fleet.devices_matching(need.selector)[cand]
            keep(count >= need.count, checks.device_reason(app, i))
        if app.locality is not None and app.locality.max_km is not None:
            near = self.distance(app.locality)[cand] <= app.locality.max_km
            keep(near, checks.locality_reason(app))
        if len(cand):
            policy, may_stay = self._policy_codes(app)
            if policy is not None:
                codes = policy[cand]
                if holds:
                    codes = np.where(held[cand] & may_stay[cand], 0, codes)
                by_code(codes)
        return cand, why

    # -- select -----------------------------------------------------------------------

    def _tier_ranks(self, app: AppView) -> Ints | None:
        if len(app.site_groups) < 2:
            return None
        found = self._tiers.get(app.site_groups)
        if found is None:
            groups = self.snapshot.groups
            found = self._tiers[app.site_groups] = np.array(
                [
                    next(
                        (
                            i
                            for i, g in enumerate(app.site_groups)
                            if g in groups and groups[g].matches(labels)
                        ),
                        len(app.site_groups),
                    )
                    for labels in self.fleet.label_sets
                ],
                dtype=np.int64,
            )
        return found

    def _score(self, app: AppView, cand: Ints, held: Bools, room: tuple[Floats, Floats]) -> Floats:
        tiers = self._tier_ranks(app)
        return scorers.score(
            app,
            self.fleet,
            cand,
            held,
            room,
            self.ledger.load,
            None if tiers is None else tiers[self.fleet.label_set[cand]],
            None if app.locality is None else self.distance(app.locality),
        )

    def _limit_groups(
        self, app: AppView, cand: Ints, held: Floats, score: Floats, extra: list[str]
    ) -> Bools:
        keep = np.ones(len(cand), dtype=bool)
        for spread in app.spread:
            if spread.min_groups is None and spread.max_groups is None:
                continue
            domains = self.fleet.domains(spread.key).of[cand]
            allowed, short = limit_groups(
                domains, held, score, spread.min_groups, spread.max_groups
            )
            if short:
                extra.append(
                    f"needs {spread.min_groups} {spread.key} domains; "
                    f"feasible sites are in {short.split()[0]}"
                )
                return np.zeros(len(cand), dtype=bool)
            keep &= allowed
        return keep

    def _duplicated(
        self, app: AppView, cand: Ints, held: Bools, room: tuple[Floats, Floats], extra: list[str]
    ) -> Ints:
        if app.replicas <= 0 or not len(cand):
            return EMPTY[0]
        score = self._score(app, cand, held, room)
        keep = self._limit_groups(app, cand, held[cand].astype(float), score, extra)
        cand, score = cand[keep], score[keep]
        groups = [(self.fleet.domains(s.key).of[cand], s.max_skew) for s in app.spread]
        return np.sort(cand[pick(bounded(app.replicas), score, groups or None)])

    def _divided(
        self,
        app: AppView,
        cand: Ints,
        held_n: Ints,
        room: tuple[Floats, Floats],
        extra: list[str],
    ) -> tuple[Ints, Ints]:
        """N replicas divided over the feasible sites. With stickiness, the replicas
        that run where they still fit stay; only the missing ones are divided (or, when
        there are too many, the largest parts give some up)."""
        n = bounded(app.replicas)
        if n <= 0 or not len(cand):
            return EMPTY
        avail = np.full(len(cand), float(n))
        if app.cpu_millis:
            avail = np.minimum(avail, np.floor(room[0][cand] / app.cpu_millis))
        if app.memory_bytes:
            avail = np.minimum(avail, np.floor(room[1][cand] / app.memory_bytes))
        weights = self._static_weights(app, cand) if app.static_weights else avail.copy()
        score = self._score(app, cand, held_n > 0, room)
        held = held_n[cand]
        keep = self._limit_groups(app, cand, held.astype(float), score, extra)
        weights = np.where(keep, weights, 0.0)
        kept = np.zeros(len(cand), dtype=np.int64)
        if app.weights.stickiness and not app.static_weights:
            # By room: what runs and still fits stays (room changes all the time, and a
            # fresh division would move replicas with it). Static weights say what each
            # site should have, so those are divided afresh; equal shares go to the
            # sites held (the stickiness score breaks ties), and a site that joins
            # later gets its share.
            stays = keep & (weights > 0)
            if app.spread:  # what runs where the spread key is missing moves into a domain
                keyed = self.fleet.domains(app.spread[0].key).of[cand] >= 0
                stays &= keyed if (keyed & stays).any() else stays
            kept = np.where(stays, np.minimum(held, avail), 0).astype(np.int64)
        if kept.sum() >= n:
            counts = _trim(kept, n, score)
        else:
            counts = kept + self._division(app, n, cand, weights, avail - kept, kept, score)
        placed = int(counts.sum())
        if placed < n:
            basis = "static weights" if app.static_weights else "capacity"
            extra.append(f"room for {placed} of {n} replicas at the feasible sites (by {basis})")
        sel = counts > 0
        return cand[sel], counts[sel]

    def _static_weights(self, app: AppView, cand: Ints) -> Floats:
        groups = self.snapshot.groups

        def matches(w: StaticWeight, labels: Mapping[str, str]) -> bool:
            if w.site_group is None:
                return w.selector.matches(labels)
            return w.site_group in groups and groups[w.site_group].matches(labels)

        per_set = np.array(
            [
                next((w.weight for w in app.static_weights if matches(w, ls)), 0)
                for ls in self.fleet.label_sets
            ],
            dtype=float,
        )
        found: Floats = per_set[self.fleet.label_set[cand]]
        return found

    def _division(
        self,
        app: AppView,
        n: int,
        cand: Ints,
        weights: Floats,
        caps: Floats,
        kept: Ints,
        score: Floats,
    ) -> Ints:
        """The ``n - kept`` replicas still missing, over sites with room ``caps``: by
        spread domain (each domain made up to its even share of ``n``), by ordered
        siteGroup (the first group first), or over all in proportion to ``weights``."""
        missing = n - int(kept.sum())
        counts = np.zeros(len(cand), dtype=np.int64)
        if app.spread:
            spread = app.spread[0]
            domains = self.fleet.domains(spread.key).of[cand]
            usable = (domains >= 0) & (weights > 0)
            if not usable.any():
                return counts
            size = len(self.fleet.domains(spread.key).values)
            d = np.where(usable, domains, 0)
            mine = np.bincount(d, weights=np.where(usable, kept, 0), minlength=size)
            room = np.bincount(d, weights=np.where(usable, caps, 0), minlength=size)
            target = spread_quotas(n, np.minimum(room + mine, n), mine.astype(float))
            quotas = np.minimum(np.maximum(target - mine, 0), np.floor(room)).astype(np.int64)
            short = missing - int(quotas.sum())
            if short > 0:  # kept replicas crowd some domains: the rest where room is left
                quotas += spread_quotas(short, room - quotas, mine.astype(float))
            inside = np.flatnonzero(usable)
            counts[inside] = divide_by_domain(
                quotas, domains[inside], weights[inside], caps[inside], score[inside]
            )
            return counts
        tiers = self._tier_ranks(app)
        if tiers is None:
            return divide(missing, weights, caps, score)
        ranks = tiers[self.fleet.label_set[cand]]
        for tier in np.unique(ranks).tolist():
            inside = ranks == tier
            part = divide(
                missing, np.where(inside, weights, 0.0), np.where(inside, caps, 0.0), score
            )
            counts += part
            missing -= int(part.sum())
        return counts

    # -- incremental --------------------------------------------------------------------

    def update(self, snapshot: Snapshot, deadline: float | None = None) -> set[str]:
        """Move to ``snapshot``, placing again only what its changes can affect; returns
        the applications whose decision changed."""
        self.deadline = deadline
        old = self.snapshot
        new_apps = {a.name: a for a in snapshot.apps}
        dirty: set[str] = set()
        keep: dict[str, tuple[Ints, Ints]] = {}
        for name, app in self.apps.items():  # gone or changed: release the old holding
            if new_apps.get(name) != app:
                if name in new_apps and name in self.ledger.held:
                    keep[name] = self.ledger.held[name]
                self.ledger.forget(app)
                self.decisions.pop(name, None)
        for name, app in new_apps.items():
            if self.apps.get(name) != app:
                dirty.add(name)
        gone = self.apps.keys() - new_apps.keys()
        self.apps.clear()
        self.apps.update(new_apps)
        for name, (idx, counts) in keep.items():  # what runs, at its new requests
            self.ledger.add(name, idx, counts)
        for name in gone:
            self.decisions.pop(name, None)
        room_grew = bool(gone or dirty)  # an application left or changed its requests

        rebuilt, grew = self._update_sites(old, snapshot, dirty)
        room_grew |= grew
        if snapshot.groups != old.groups:
            if not rebuilt:
                self._fresh_caches()
            dirty |= {n for n, a in self.apps.items() if _names_groups(a)}
            room_grew = True
        if snapshot.policy.version != self._policy_version or not _same_policies(
            snapshot.policy, old.policy
        ):
            self.snapshot = snapshot
            changed_policy = self._policy_changes()
            dirty |= changed_policy
            room_grew |= bool(changed_policy)
        self._policy_version = snapshot.policy.version
        self.snapshot = snapshot
        self._resync_current(old, snapshot, dirty)
        if room_grew:  # room may have been freed or added: try what is short again
            dirty |= {n for n, d in self.decisions.items() if d.unplaced}
        changed = self._run(dirty)
        return changed | gone

    def _update_sites(self, old: Snapshot, new: Snapshot, dirty: set[str]) -> tuple[bool, bool]:
        """Returns whether the fleet was rebuilt, and whether any site may have more room
        for something than before."""
        if old.sites is new.sites:
            return False, False
        by_name = {s.name: s for s in new.sites}
        fleet = self.fleet
        same_names = len(by_name) == fleet.size and all(n in by_name for n in fleet.names)
        changed = [
            i
            for i, site in enumerate(fleet.sites)
            if same_names and (by_name[site.name] is not site and by_name[site.name] != site)
        ]
        structural = (
            not same_names
            or any(
                _structure(fleet.sites[i]) != _structure(by_name[fleet.names[i]]) for i in changed
            )
            or new.groups != old.groups
        )
        if structural:
            # Labels, taints, location or devices changed, or sites came or went: place
            # again what holds a changed or removed site, and what could take one.
            before = {s.name: s for s in fleet.sites}
            touched = {n for n, s in by_name.items() if before.get(n) is None or before[n] != s} | (
                before.keys() - by_name.keys()
            )
            self._rebuild(new)
            dirty |= {
                a.name
                for a in self.apps.values()
                if a.every_site or (a.divided and a.static_weights)
            }
            dirty |= {a for a, d in self.decisions.items() if touched.intersection(d.sites)}
            return True, True
        grew = False
        for i in changed:
            before_site, after = fleet.sites[i], by_name[fleet.names[i]]
            grew |= _more_room(before_site, after)
            self._refresh_site(i, after)
            dirty |= self._touched_by(i)
        return False, grew

    def _rebuild(self, snapshot: Snapshot) -> None:
        held = {
            name: dict(zip(self.fleet.name_array[idx].tolist(), counts.tolist(), strict=True))
            for name, (idx, counts) in self.ledger.held.items()
        }
        self.snapshot = replace(snapshot, current=held)
        self.fleet = Fleet(snapshot.sites)
        self._fresh_caches()
        self.ledger = Ledger(self.fleet, self.apps)
        for name, sites in held.items():
            if name in self.apps:
                idx, counts = self._indices(sites)
                if len(idx):
                    self.ledger.add(name, idx, counts)

    def _refresh_site(self, i: int, after: SiteView) -> None:
        self.fleet.replace(i, after)
        self.ledger.recount(i)

    def _touched_by(self, i: int) -> set[str]:
        """Applications whose verdict at site ``i`` is now different: those holding it
        that may no longer, and those not holding it that now could and want more."""
        site = self.fleet.sites[i]
        touched: set[str] = set()
        labels = self.fleet.label_sets[int(self.fleet.label_set[i])]
        for name, app in self.apps.items():
            idx, _ = self.ledger.held.get(name, EMPTY)
            holds = (
                bool(len(idx)) and int(idx[min(int(np.searchsorted(idx, i)), len(idx) - 1)]) == i
            )
            decision = self.decisions.get(name)
            if not holds and decision is not None and not app.every_site and not decision.unplaced:
                continue
            if checks.selector_reason(app, labels) or checks.groups_reason(
                app, labels, self.snapshot.groups
            ):
                continue
            cpu, memory = float(self.ledger.free_cpu[i]), float(self.ledger.free_memory[i])
            if holds:  # its own replicas are counted in already: the site must not be overdrawn
                room_fits = cpu >= 0 and memory >= 0
            else:
                room_fits = cpu >= app.cpu_millis and memory >= app.memory_bytes
            fits = (
                room_fits
                and checks.runtime_reason(app, site) is None
                and checks.phase_reason(app, site, holds) is None
                and checks.taints_reason(app, site, holds) is None
            )
            if fits != holds:
                touched.add(name)
        return touched

    def _policy_changes(self) -> set[str]:
        """Ask the policies again for what was asked before; the applications whose
        verdicts changed (or that the policies now see differently) are placed again."""
        old, asked = self._policies, self._asked
        self._policies, self._asked, self._policy_sites = {}, {}, {}
        dirty: set[str] = set()
        for name, app in self.apps.items():
            if name not in asked:  # never asked: no decision depended on policies
                continue
            key = self.snapshot.policy.key(app)
            before = old.get(key) if key == asked[name] else None
            self._policy_codes(app)
            codes, stay = self._policies[self._asked[name]]
            if before is None or not (
                np.array_equal(codes, before[0]) and np.array_equal(stay, before[1])
            ):
                dirty.add(name)
        return dirty

    def _resync_current(self, old: Snapshot, new: Snapshot, dirty: set[str]) -> None:
        """Where what runs differs from what was decided (a write that failed, an
        assignment deleted by hand), believe the snapshot and place again."""
        if new.current is old.current:
            return
        for name in self.apps:
            now = new.current.get(name)
            if now is old.current.get(name) and now is not None:
                continue
            idx, counts = self._indices(holding(now or ()))
            have, have_counts = self.ledger.held.get(name, EMPTY)
            if name in dirty or (np.array_equal(idx, have) and np.array_equal(counts, have_counts)):
                continue
            self.ledger.remove(name)
            if len(idx):
                self.ledger.add(name, idx, counts)
            dirty.add(name)


def _trim(counts: Ints, n: int, score: Floats) -> Ints:
    """Down to ``n`` replicas, as if one at a time from the largest part, the worst
    scored first among equals: every part cut to the level where ``n`` still fit, and
    the excess at that level taken from the worst scored (found by bisection, so a
    count of two billion costs 31 steps, not two billion)."""
    low, high = 0, int(counts.max(initial=0))
    while low < high:  # the least level whose parts hold n or more
        mid = (low + high) // 2
        if int(np.minimum(counts, mid).sum()) >= n:
            high = mid
        else:
            low = mid + 1
    result = np.minimum(counts, low)
    excess = int(result.sum()) - n
    if excess > 0:
        at = np.flatnonzero(result == low)
        worst = at[np.lexsort((at, score[at]))][:excess]
        result[worst] -= 1
    return result


def _same_policies(new: object, old: object) -> bool:
    """The same policies object (or both none: each snapshot makes its own NoPolicies)."""
    return new is old or (type(new) is NoPolicies and type(old) is NoPolicies)


def _names_groups(app: AppView) -> bool:
    """Whether the application's placement depends on SiteGroups."""
    return bool(
        app.site_groups
        or (app.locality is not None and app.locality.site_group)
        or any(w.site_group for w in app.static_weights)
    )


def _more_room(before: SiteView, after: SiteView) -> bool:
    """Whether a site can take more than it could (capacity, or a phase that takes)."""

    def takes(site: SiteView) -> bool:
        return not site.unschedulable and site.phase not in ("Cordoned", *checks.AWAY)

    def more(a: int | None, b: int | None) -> bool:
        return (b is None and a is not None) or (a is not None and b is not None and b > a)

    return (
        (takes(after) and not takes(before))
        or more(before.cpu_millis, after.cpu_millis)
        or more(before.memory_bytes, after.memory_bytes)
        or (after.phase == "Online" and before.phase != "Online")
    )


def _structure(site: SiteView) -> tuple[object, ...]:
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


def place(snapshot: Snapshot) -> dict[str, Decision]:
    return Planner(snapshot).decisions


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
    """Why ``app_name`` is where it is; with a site, that site's verdict from every
    check, against the capacity left when this application's turn came. KeyError for
    an unknown application or site."""
    names = {s.name: s for s in snapshot.sites}
    if site_name is not None and site_name not in names:
        raise KeyError(site_name)
    watch = None
    if site_name is not None:
        watch = Watch(app_name, sorted(names).index(site_name))
    planner = Planner(snapshot, watch, deadline)
    if app_name not in planner.decisions:
        raise KeyError(app_name)
    decision = planner.decisions[app_name]
    if site_name is None or watch is None:
        return Explanation(decision)
    app, site = planner.apps[app_name], names[site_name]
    held = site_name in holding(snapshot.current.get(app_name, ()))
    distance = None
    if app.locality is not None:
        found = float(planner.distance(app.locality)[watch.site])
        distance = None if np.isnan(found) else found
    trial = checks.Trial(
        app,
        site,
        watch.room or checks.Room(None, None),
        held,
        snapshot.groups,
        snapshot.policy.verdicts(app, [site.labels])[0],
        distance,
    )
    return Explanation(decision, site_name, tuple(checks.verdicts(trial)))
