"""Placement-scope verdicts, cached per (application revision and labels, site label set).

A fleet of ten thousand sites has a few hundred distinct label sets, and a rule sees
only a site's labels, so the cost of governance grows with label sets, not sites. A
new policy generation or application generation simply misses the cache.

A policy none of whose rules mention ``app`` gives the same answer for every
application it covers, so its violations are kept per site label set alone; one whose
rules read only ``app.metadata.labels`` is kept per (application labels, site label
set). With a thousand applications sharing a few label sets, such a policy is
evaluated a few times per site label set, not a thousand.
"""

from __future__ import annotations

import re
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

LabelSet = frozenset[tuple[str, str]]
_APP = re.compile(r"\bapp\b")
_APP_BEYOND_LABELS = re.compile(r"\bapp\b(?!\.metadata\.labels\b)")


def app_facts(policy: CompiledPolicy) -> str:
    """What of the application a policy's rules read: "none", "labels" or "all"."""
    expressions = [rule.expression for rule in policy.rules]
    if not any(_APP.search(e) for e in expressions):
        return "none"
    if not any(_APP_BEYOND_LABELS.search(e) for e in expressions):
        return "labels"
    return "all"


class PlacementGovernor:
    def __init__(self, policies: Sequence[CompiledPolicy]) -> None:
        self.policies = tuple(p for p in policies if p.scope is Scope.PLACEMENT)
        self._key = tuple((p.name, p.generation) for p in self.policies)
        self._cache: dict[tuple[str, int, LabelSet, LabelSet], Verdict] = {}
        self._reads = {p.name: app_facts(p) for p in self.policies}
        self._shared: dict[tuple[str, LabelSet | None, LabelSet], list[Violation]] = {}
        self.evaluations = 0

    @property
    def version(self) -> tuple[tuple[str, int], ...]:
        """The policies' names and generations: changes when any policy does."""
        return self._key

    def renewed(self, policies: Sequence[CompiledPolicy]) -> PlacementGovernor:
        """A governor for changed policies that keeps what it knew of the unchanged ones,
        so a change costs the evaluations of the policy that changed."""
        fresh = PlacementGovernor(policies)
        kept = {name for name, generation in fresh._key if (name, generation) in self._key}
        fresh._shared = {k: v for k, v in self._shared.items() if k[0] in kept}
        return fresh

    def key(self, app: Mapping[str, Any]) -> tuple[object, ...]:
        """What of ``app`` its verdicts depend on: applications with equal keys get
        equal verdicts at every site (the policies that cover them, and what of the
        application those read)."""
        meta = app["metadata"]
        labels = frozenset((meta.get("labels") or {}).items())
        found: list[object] = []
        for policy in self.policies:
            if policy.covers(app):
                reads = self._reads[policy.name]
                if reads == "all":
                    found.append(
                        (policy.name, meta["name"], int(meta.get("generation") or 1), labels)
                    )
                else:
                    found.append((policy.name, labels if reads == "labels" else None))
        return tuple(found)

    def same_policies(self, policies: Sequence[CompiledPolicy]) -> bool:
        placement = [p for p in policies if p.scope is Scope.PLACEMENT]
        return tuple((p.name, p.generation) for p in placement) == self._key

    def verdict(self, app: Mapping[str, Any], site_labels: Mapping[str, str]) -> Verdict:
        meta = app["metadata"]
        # Labels are part of the key: they change without a new generation, and they
        # decide which policies cover the application.
        labels = frozenset((meta.get("labels") or {}).items())
        key = (
            meta["name"],
            int(meta.get("generation") or 1),
            labels,
            frozenset(site_labels.items()),
        )
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._judge(app, key[3], site_labels)
        return found

    def _judge(self, app: Mapping[str, Any], labels: LabelSet, site: Mapping[str, str]) -> Verdict:
        by: dict[Enforcement, list[Violation]] = {e: [] for e in Enforcement}
        for policy in self.policies:
            if not policy.covers(app):
                continue
            reads = self._reads[policy.name]
            if reads != "all":
                app_labels = app["metadata"].get("labels") or {}
                facts = frozenset(app_labels.items()) if reads == "labels" else None
                key = (policy.name, facts, labels)
                if key not in self._shared:
                    self.evaluations += 1
                    self._shared[key] = evaluate(policy, app, {"labels": dict(site)})
                violations = self._shared[key]
            else:
                self.evaluations += 1
                violations = evaluate(policy, app, {"labels": dict(site)})
            for violation in violations:
                by[violation.enforcement].append(violation)
        return Verdict(
            tuple(by[Enforcement.DENY]), tuple(by[Enforcement.WARN]), tuple(by[Enforcement.AUDIT])
        )
