"""Placement-scope policies, as the placement controller applies them.

``PolicyGate`` answers placement's policy question for each (application, site):

* a Deny violation excludes the site ("excluded by policy pii-stays-in-eu"), unless
  every violated policy says ``onViolation: Report`` and the application runs there
  already: then it stays, and the Application's status reports it;
* Warn violations at the sites chosen become a ``PolicyWarning`` condition;
* Audit violations are logged once per (application revision, policy).

Verdicts come from ``PlacementGovernor``, cached per application revision and site
label set, and kept across passes while the policies are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from edgeplane.governance.cache import PlacementGovernor
from edgeplane.governance.policies import CompiledPolicy, Violation
from edgeplane.hub.admission import PolicyCache
from edgeplane.placement.simple import AppView, SiteView
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.governance")


def _names(violations: Iterable[Violation]) -> str:
    return ", ".join(sorted({v.policy for v in violations}))


class PolicyGate:
    def __init__(self, store: Store) -> None:
        self._cache = PolicyCache(store)
        self._governor = PlacementGovernor([])
        self._policies: dict[str, CompiledPolicy] = {}
        self._apps: Mapping[str, Object] = {}
        self._reported: dict[str, set[str]] = {}
        self._audited: set[tuple[str, int, str]] = set()

    async def refresh(self, apps: Iterable[Object]) -> None:
        """Before a pass: the current policies and applications."""
        policies = await self._cache.policies()
        if not self._governor.same_policies(policies):
            self._governor = PlacementGovernor(policies)
        self._policies = {p.name: p for p in policies}
        self._apps = {a["metadata"]["name"]: a for a in apps}
        self._reported = {}

    def check(self, app: AppView, site: SiteView, held: bool) -> str | None:
        verdict = self._governor.verdict(self._apps[app.name], site.labels)
        if not verdict.denied:
            return None
        report_only = all(not self._policies[v.policy].move_on_violation for v in verdict.denied)
        if held and report_only:
            self._reported.setdefault(app.name, set()).add(site.name)
            return None
        return f"excluded by policy {_names(verdict.denied)}"

    def conditions(self, app: Object, sites: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Policy conditions for an application placed at ``sites`` (Site objects)."""
        name = app["metadata"]["name"]
        warned: list[Violation] = []
        for site in sites:
            verdict = self._governor.verdict(app, site["metadata"].get("labels") or {})
            warned += verdict.warnings
            self._audit(app, verdict.audits)
        found = []
        if warned:
            found.append(
                {
                    "type": "PolicyWarning",
                    "status": "True",
                    "reason": "Warn",
                    "message": f"placed where policy {_names(warned)} warns: {warned[0].message}",
                }
            )
        if reported := self._reported.get(name):
            found.append(
                {
                    "type": "PolicyViolation",
                    "status": "True",
                    "reason": "Reported",
                    "message": f"runs at {len(reported)} site(s) that violate a Deny policy "
                    f"with onViolation: Report ({', '.join(sorted(reported))})",
                }
            )
        return found

    def _audit(self, app: Object, audits: Iterable[Violation]) -> None:
        generation = int(app["metadata"].get("generation") or 1)
        for violation in audits:
            key = (app["metadata"]["name"], generation, violation.policy)
            if key not in self._audited:
                self._audited.add(key)
                log.info("audit: Application %s: %s", key[0], violation)
