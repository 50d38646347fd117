"""The policy check: sites a placement policy excludes. Verdicts are asked once per
policy key (applications the policies see alike) for every label set at once, and
kept until the policies change. Whether a held site may stay is governance's rule
(``governance.policies.policy_reason``), which comes with the verdicts
(``Policies.reason``)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Ints
from edgeplane.placement.model import AppView

PerSet = tuple[Ints, Ints]
"""Per label set: the reason code for a site not held, and for one held."""


class PolicyCheck(Check):
    name = "policy"
    order = 90

    def per_set(self, scope: Scope, app: AppView, key: Hashable) -> PerSet:
        def make() -> PerSet:
            policy = scope.policy
            answers = policy.verdicts(app, scope.fleet.label_sets)
            new = [scope.reasons(policy.reason(v, False)) for v in answers]
            kept = [scope.reasons(policy.reason(v, True)) for v in answers]
            return np.array(new, np.int64), np.array(kept, np.int64)

        return scope.caches.get(self.name, ("sets", key), make)

    def per_site(self, scope: Scope, app: AppView) -> PerSet | None:
        key = scope.policy_key(app)
        new, kept = self.per_set(scope, app, key)
        if not new.any():
            return None
        return scope.caches.get(
            self.name, ("sites", key), lambda: (scope.per_site(new), scope.per_site(kept))
        )

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        found = self.per_site(ctx.scope, ctx.app)
        if found is None:
            return None
        new, kept = found
        held = ctx.held[cand]
        codes: Ints = np.where(held, kept[cand], new[cand]) if held.any() else new[cand]
        return codes
