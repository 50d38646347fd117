"""Placement-scope policies, as the placement controller applies them.

``PolicyGate`` answers placement's policy question for each (application, site label
set):

* a Deny violation excludes the site ("excluded by policy pii-stays-in-eu"), unless
  every violated policy says ``onViolation: Report`` and the application runs there
  already: then it stays, and the Application's status reports it;
* Warn violations at the sites chosen become a ``PolicyWarning`` condition;
* Audit violations are logged once per (application revision, policy).

Verdicts come from ``PlacementGovernor``, cached per application revision and site
label set, and kept across passes while the policies are unchanged. The policies are
read from the hub's informer when the controller has one (``InformedPolicies``), else
listed from the store.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.governance.cache import PlacementGovernor
from edgeplane.governance.policies import (
    CompiledPolicy,
    Violation,
    allowed_namespaces,
    compile_policy,
    may_stay,
    policy_reason,
)
from edgeplane.hub.admission import PolicyCache
from edgeplane.hub.informer import Informer
from edgeplane.placement.model import AppView
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.governance")


def _names(violations: Iterable[Violation]) -> str:
    return ", ".join(sorted({v.policy for v in violations}))


class InformedPolicies:
    """The stored policies compiled, read from the informer's cache (no list per pass),
    as admission's ``PolicyCache`` reads them from the store: each (name, generation)
    compiled once; one that no longer compiles is skipped, and said so once."""

    def __init__(self, informer: Informer) -> None:
        self._informer = informer
        self._compiled: dict[tuple[str, int], CompiledPolicy] = {}
        self._broken: set[tuple[str, int]] = set()

    async def policies(self) -> list[CompiledPolicy]:
        found, seen = [], set()
        for name, obj in sorted(self._informer.items("Policy").items()):
            key = (name, _generation(obj))
            seen.add(key)
            if key not in self._compiled and key not in self._broken:
                try:  # one stored before the cost limit fails its rules instead
                    self._compiled[key] = compile_policy(obj, refuse_costly=False)
                except Exception as e:  # a stored one no check has seen: any fault
                    log.error("policy %s does not compile: %s", name, e)
                    self._broken.add(key)
            if key in self._compiled:
                found.append(self._compiled[key])
        # Only the current generations are kept: the cache cannot grow with edits.
        self._compiled = {k: v for k, v in self._compiled.items() if k in seen}
        self._broken &= seen
        return found


def _generation(obj: Object) -> int:
    try:
        return int(obj["metadata"].get("generation") or 1)
    except (KeyError, TypeError, ValueError, AttributeError):
        return -1


class PolicyGate:
    """Placement's ``Policies``: verdicts per (application, site label set)."""

    def __init__(self, store: Store, informer: Informer | None = None) -> None:
        self._cache: PolicyCache | InformedPolicies = (
            InformedPolicies(informer) if informer is not None else PolicyCache(store)
        )
        self._governor = PlacementGovernor([])
        self._policies: dict[str, CompiledPolicy] = {}
        self._apps: Mapping[str, Object] = {}
        self._audited: set[tuple[str, int, str]] = set()

    async def refresh(self, apps: Iterable[Object]) -> None:
        """Before a pass: the current policies and applications."""
        policies = await self._cache.policies()
        if not self._governor.same_policies(policies):
            self._governor = self._governor.renewed(policies)
        self._policies = {p.name: p for p in policies}
        self._apps = {a["metadata"]["name"]: a for a in apps}

    @property
    def version(self) -> Hashable:
        return self._governor.version

    def key(self, app: AppView) -> Hashable:
        return self._governor.key(self._apps[app.name])

    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> list[tuple[str | None, bool]]:
        answers: dict[tuple[str, ...], tuple[str | None, bool]] = {(): (None, False)}
        found = []
        for names in self._governor.denials(self._apps[app.name], label_sets):
            answer = answers.get(names)
            if answer is None:
                answer = answers[names] = (self._why(names), self._may_stay(names))
            found.append(answer)
        return found

    def _why(self, names: tuple[str, ...]) -> str:
        """Why sites are excluded; a rule that failed without an answer (too costly, too
        slow) says so, or the owner would look for a fault in the application."""
        notes = [
            f"{name} rule {rule.name}: {rule.refused[0]}"
            for name in names
            for rule in self._policies[name].rules
            if rule.refused
        ]
        why = f"excluded by policy {', '.join(names)}"
        return f"{why} ({'; '.join(notes)})" if notes else why

    def reason(self, verdict: tuple[str | None, bool], held: bool) -> str | None:
        return policy_reason(verdict, held)

    def _may_stay(self, policies: Iterable[str]) -> bool:
        """Whether a site held already stays: every policy it violates says Report."""
        return may_stay(self._policies[name] for name in policies)

    def conditions(self, app: Object, sites: Iterable[Object]) -> list[dict[str, Any]]:
        """Policy conditions for an application placed at ``sites`` (Site objects)."""
        warned: list[Violation] = []
        reported: list[str] = []
        for site in sites:
            labels = site["metadata"].get("labels") or {}
            verdict = self._governor.verdict(app, labels)
            warned += verdict.warnings
            self._audit(app, verdict.audits)
            if verdict.denied and self._may_stay(v.policy for v in verdict.denied):
                reported.append(site["metadata"]["name"])
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
        if reported:
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

    def allowed_namespaces(self, app: Object) -> frozenset[str]:
        """Namespaces the Admission policies covering ``app`` let its manifests write
        into besides its own (rendered into its Assignments' ``allowedNamespaces``)."""
        return allowed_namespaces(self._policies.values(), app)

    def _audit(self, app: Object, audits: Iterable[Violation]) -> None:
        generation = int(app["metadata"].get("generation") or 1)
        for violation in audits:
            key = (app["metadata"]["name"], generation, violation.policy)
            if key not in self._audited:
                self._audited.add(key)
                log.info("audit: Application %s: %s", key[0], violation)
