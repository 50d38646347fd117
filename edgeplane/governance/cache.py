"""Placement-scope verdicts, cached per (application revision, site label set).

A fleet of ten thousand sites has a few hundred distinct label sets, and a rule sees
only a site's labels, so the cost of governance grows with label sets, not sites. A
new policy generation or application generation simply misses the cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeplane.governance.policies import CompiledPolicy, Scope, Verdict, judge

LabelSet = frozenset[tuple[str, str]]


class PlacementGovernor:
    def __init__(self, policies: Sequence[CompiledPolicy]) -> None:
        self.policies = tuple(p for p in policies if p.scope is Scope.PLACEMENT)
        self._key = tuple((p.name, p.generation) for p in self.policies)
        self._cache: dict[tuple[str, int, LabelSet], Verdict] = {}
        self.evaluations = 0

    def same_policies(self, policies: Sequence[CompiledPolicy]) -> bool:
        placement = [p for p in policies if p.scope is Scope.PLACEMENT]
        return tuple((p.name, p.generation) for p in placement) == self._key

    def verdict(self, app: Mapping[str, Any], site_labels: Mapping[str, str]) -> Verdict:
        meta = app["metadata"]
        key = (meta["name"], int(meta.get("generation") or 1), frozenset(site_labels.items()))
        found = self._cache.get(key)
        if found is None:
            self.evaluations += 1
            found = self._cache[key] = judge(self.policies, app, {"labels": dict(site_labels)})
        return found
