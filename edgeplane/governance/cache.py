"""Placement-scope verdicts, shared as widely as the rules allow.

A rule sees only what it reads (``reads``): one that reads ``site.labels["jurisdiction"]``
and ``app.metadata.labels["data"]`` gives the same answer for every (application,
site) pair that agrees on those two labels. So each policy's violations are kept per
(what of the application it reads, what of the site it reads), and a fleet of ten
thousand sites and a thousand applications costs a few evaluations per distinct
value, not one per pair. A rule that reads more of the application (its spec) is
kept per application revision; one that reads more of the site, per label set.

``denials`` answers for one application and a list of site label sets at once (the
placement engine's question); ``verdict`` for one site, with warnings and audits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeplane.governance.policies import (
    CompiledPolicy,
    Enforcement,
    Scope,
    Verdict,
    Violation,
    evaluate,
)
from edgeplane.governance.reads import Reads, project, reads

LabelSet = frozenset[tuple[str, str]]


class PlacementGovernor:
    def __init__(self, policies: Sequence[CompiledPolicy]) -> None:
        self.policies = tuple(p for p in policies if p.scope is Scope.PLACEMENT)
        self._key = tuple((p.name, p.generation) for p in self.policies)
        self._reads: dict[str, Reads] = {
            p.name: reads(rule.expression for rule in p.rules) for p in self.policies
        }
        self._shared: dict[tuple[str, object, LabelSet], list[Violation]] = {}
        self._projections: dict[tuple[str, int], tuple[list[int], list[LabelSet]]] = {}
        self._sets_seen: object = None
        self._parts: dict[tuple[object, ...], tuple[str, object] | None] = {}
        """(policy, generation, what of the app it may read) -> its part of the key."""
        self.evaluations = 0

    @property
    def version(self) -> tuple[tuple[str, int], ...]:
        """The policies' names and generations: changes when any policy does."""
        return self._key

    def same_policies(self, policies: Sequence[CompiledPolicy]) -> bool:
        placement = [p for p in policies if p.scope is Scope.PLACEMENT]
        return tuple((p.name, p.generation) for p in placement) == self._key

    def renewed(self, policies: Sequence[CompiledPolicy]) -> PlacementGovernor:
        """A governor for changed policies that keeps what it knew of the unchanged ones,
        so a change costs the evaluations of the policy that changed."""
        fresh = PlacementGovernor(policies)
        kept = {name for name, generation in fresh._key if (name, generation) in self._key}
        fresh._shared = {k: v for k, v in self._shared.items() if k[0] in kept}
        fresh._parts = {k: v for k, v in self._parts.items() if (k[0], k[1]) in fresh._key}
        return fresh

    def _app_facts(self, policy: CompiledPolicy, app: Mapping[str, Any]) -> object:
        read = self._reads[policy.name]
        meta = app["metadata"]
        if not read.app_at_all:
            return None
        labels = meta.get("labels") or {}
        if read.app is not None:
            return project(labels, read.app)
        return (meta["name"], int(meta.get("generation") or 1), frozenset(labels.items()))

    def key(self, app: Mapping[str, Any]) -> tuple[object, ...]:
        """What of ``app`` its Deny verdicts depend on: applications with equal keys are
        denied the same sites (the Deny policies that cover them, and what of the
        application each reads)."""
        meta = app["metadata"]
        labels = frozenset((meta.get("labels") or {}).items())
        found: list[tuple[str, object]] = []
        for p in self.policies:
            if p.enforcement is not Enforcement.DENY:
                continue
            everything = self._reads[p.name].app is None and self._reads[p.name].app_at_all
            seen = (meta["name"], meta.get("generation")) if everything else None
            cache_key = (p.name, p.generation, labels, seen)
            if cache_key not in self._parts:
                self._parts[cache_key] = (
                    (p.name, self._app_facts(p, app)) if p.covers(app) else None
                )
            if (part := self._parts[cache_key]) is not None:
                found.append(part)
        return tuple(found)

    def _violations(
        self, policy: CompiledPolicy, app: Mapping[str, Any], facts: object, site: LabelSet
    ) -> list[Violation]:
        key = (policy.name, facts, site)
        found = self._shared.get(key)
        if found is None:
            self.evaluations += 1
            found = self._shared[key] = evaluate(policy, app, {"labels": dict(site)})
        return found

    def verdict(self, app: Mapping[str, Any], site_labels: Mapping[str, str]) -> Verdict:
        by: dict[Enforcement, list[Violation]] = {e: [] for e in Enforcement}
        for policy in self.policies:
            if policy.covers(app):
                facts = self._app_facts(policy, app)
                site = project(site_labels, self._reads[policy.name].site)
                for violation in self._violations(policy, app, facts, site):
                    by[violation.enforcement].append(violation)
        return Verdict(
            tuple(by[Enforcement.DENY]), tuple(by[Enforcement.WARN]), tuple(by[Enforcement.AUDIT])
        )

    def _projected(
        self, policy: CompiledPolicy, label_sets: Sequence[Mapping[str, str]]
    ) -> tuple[list[int], list[LabelSet]]:
        """Each label set's projection for ``policy``, as an index into the distinct ones
        (kept while the same list of label sets is asked about)."""
        if self._sets_seen is not label_sets:
            self._sets_seen, self._projections = label_sets, {}
        key = (policy.name, policy.generation)
        found = self._projections.get(key)
        if found is None:
            distinct: dict[LabelSet, int] = {}
            ids = [
                distinct.setdefault(project(labels, self._reads[policy.name].site), len(distinct))
                for labels in label_sets
            ]
            found = self._projections[key] = (ids, list(distinct))
        return found

    def denials(
        self, app: Mapping[str, Any], label_sets: Sequence[Mapping[str, str]]
    ) -> list[tuple[str, ...]]:
        """For each label set, the Deny policies that exclude sites with it (sorted)."""
        found: list[tuple[str, ...]] = [()] * len(label_sets)
        for policy in sorted(self.policies, key=lambda p: p.name):
            if policy.enforcement is not Enforcement.DENY or not policy.covers(app):
                continue
            ids, distinct = self._projected(policy, label_sets)
            facts = self._app_facts(policy, app)
            bad = {
                i for i, site in enumerate(distinct) if self._violations(policy, app, facts, site)
            }
            if bad:
                for at, i in enumerate(ids):
                    if i in bad:
                        found[at] = (*found[at], policy.name)
        return found
