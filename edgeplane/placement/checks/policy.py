"""The policy check: sites a placement policy excludes. Verdicts are asked once per
policy key (applications the policies see alike) for every label set at once, and
kept until the policies change. Whether a held site may stay is governance's rule
(``governance.policies.policy_reason``), which comes with the verdicts
(``Policies.reason``)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from edgeplane.placement.checks.base import Check, failing_at
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Bools, Ints
from edgeplane.placement.model import AppView

PerSet = tuple[Ints, Ints]
"""Per label set: the reason code for a site not held, and for one held."""
PerSite = tuple[Ints, Ints, Bools]
"""Per site: the same two, and where the first is not 0."""


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

    def per_site(self, scope: Scope, app: AppView) -> PerSite | None:
        # Memoized per application object too: a policy key can be a large tuple, and
        # hashing it again on every turn cost more than the check itself.
        memo = scope.caches.peek(self.name, ("app", app.name))
        if isinstance(memo, tuple) and memo[0] is app:
            known: PerSite | None = memo[1]
            return known
        key = scope.policy_key(app)
        new, kept = self.per_set(scope, app, key)
        found = None
        if new.any():
            found = scope.caches.get(self.name, ("sites", key), lambda: _spread(scope, new, kept))
        scope.caches.put(self.name, ("app", app.name), (app, found))
        return found

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        found = self.per_site(ctx.scope, ctx.app)
        if found is None:
            return None
        new, kept, _ = found
        held = ctx.held_at(cand)
        codes: Ints = new[cand] if held is None else np.where(held, kept[cand], new[cand])
        return codes

    def failing(self, ctx: Context, cand: Ints) -> tuple[Ints, Ints] | None:
        # One boolean read per candidate; codes only for the few the policies exclude.
        found = self.per_site(ctx.scope, ctx.app)
        if found is None:
            return None
        new, kept, bad = found
        return failing_at(new, bad, cand, ctx.held, kept)


def _spread(scope: Scope, new: Ints, kept: Ints) -> PerSite:
    sites = scope.per_site(new)
    return sites, scope.per_site(kept), sites != 0
