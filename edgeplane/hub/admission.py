"""Admission: what the hub checks beyond the schema before storing a write.

* A ``Policy`` must compile: a bad CEL expression is 422 with CEL's own message and
  position, naming the rule (``spec.rules[0].expression``); so is a rule whose
  estimated cost is over the limit (``governance.costs``), with the estimate.
* An ``Application``'s overrides must each render a valid Assignment (422 naming
  ``spec.overrides[i].values...``).
* An ``Application`` must pass the Admission-scope policies that cover it: a Deny
  violation is 422 ``PolicyDenied`` and nothing is stored; Warn violations are
  returned as ``Warning`` headers; Audit violations are logged.

Compiled policies are cached by (name, generation), so a write costs one list of the
policies and no compiling once they are known.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.validation import InvalidObject, validate_object
from edgeplane.governance.policies import (
    CompiledPolicy,
    PolicyError,
    Scope,
    compile_policy,
    judge,
)
from edgeplane.hub.errors import ApiError
from edgeplane.hub.patch import merge_patch
from edgeplane.hub.warning_headers import warning_header
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.admission")


def checked_policy(obj: Object) -> CompiledPolicy:
    try:
        return compile_policy(obj)
    except PolicyError as e:
        name = obj["metadata"]["name"]
        what = "is too costly" if e.cost is not None else "does not compile"
        raise ApiError(
            422,
            "Invalid",
            f'Policy "{name}" is invalid: {e.field}: the CEL expression {what}: {e.message}',
            e.field,
        ) from e


def _policy_key(obj: Object) -> tuple[str, int]:
    """(name, generation); a stored object too broken to say is keyed so it fails once."""
    try:
        return str(obj["metadata"]["name"]), int(obj["metadata"].get("generation") or 1)
    except (KeyError, TypeError, ValueError, AttributeError):
        return str(obj.get("metadata")), -1


class PolicyCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._compiled: dict[tuple[str, int], CompiledPolicy] = {}
        self._broken: set[tuple[str, int]] = set()

    async def policies(self) -> list[CompiledPolicy]:
        """Every stored policy, compiled (ones that no longer compile are skipped)."""
        found, token, seen = [], None, set()
        while True:
            page = await self._store.list("Policy", None, 1000, token)
            for obj in page.items:
                key = _policy_key(obj)
                seen.add(key)
                if key in self._broken:
                    continue
                if key not in self._compiled:
                    try:  # one stored before the cost limit fails its rules instead
                        self._compiled[key] = compile_policy(obj, refuse_costly=False)
                    except Exception as e:  # a stored one no check has seen: any fault
                        log.error("policy %s does not compile: %s", key[0], e)
                        self._broken.add(key)  # said once, not on every pass
                        continue
                found.append(self._compiled[key])
            if not (token := page.continue_token):
                # Only the current generations are kept: the cache cannot grow with edits.
                self._compiled = {k: v for k, v in self._compiled.items() if k in seen}
                self._broken &= seen
                return found

    async def admit(self, obj: Object) -> list[str]:
        """Check a write; the warnings to return. ApiError 422 when a Deny rule fails."""
        if obj.get("kind") == "Policy":
            checked_policy(obj)
            return []
        if obj.get("kind") != "Application":
            return []
        checked_overrides(obj)
        admission = [p for p in await self.policies() if p.scope is Scope.ADMISSION]
        # CEL off the event loop: each rule is bounded by its cost, not free.
        verdict = await asyncio.to_thread(judge, admission, obj)
        name = obj["metadata"]["name"]
        for audit in verdict.audits:
            log.info("audit: Application %s: %s", name, audit)
        if verdict.denied:
            raise ApiError(
                422,
                "PolicyDenied",
                f'Application "{name}" is denied by '
                + "; ".join(str(v) for v in verdict.denied)
                + ": change the application, or the policy",
            )
        return [str(v) for v in verdict.warnings]


def checked_overrides(obj: Object) -> None:
    """Each override rendered over the workload as the placement controller renders it,
    and the Assignment it makes validated: 422 naming the override's field, so a typo
    is refused here and not found by placement at some site later."""
    spec, name = obj["spec"], obj["metadata"]["name"]
    for i, override in enumerate(spec.get("overrides") or []):
        raw = {
            "apiVersion": API_VERSION,
            "kind": "Assignment",
            "metadata": {"name": "admission-check"},
            "spec": {
                "application": name,
                "revision": 1,
                "site": override.get("site") or "admission-check",
                "replicas": 1,
                "workload": merge_patch(spec["workload"], override.get("values") or {}),
                **({"resources": spec["resources"]} if spec.get("resources") else {}),
            },
        }
        try:
            validate_object(raw, expected_kind="Assignment")
        except InvalidObject as e:
            inner = (e.field or "").removeprefix("spec.workload")
            field = f"spec.overrides[{i}].values{inner}"
            problems = "; ".join(str(p).removeprefix("spec.workload") for p in e.errors)
            raise ApiError(
                422,
                "Invalid",
                f'Application "{name}" is invalid: {field}: the override makes an invalid '
                f"workload ({problems}): change or remove the override's value",
                field,
            ) from e


def warning_headers(warnings: list[str]) -> dict[str, Any]:
    """RFC 7234 ``Warning`` headers, as Kubernetes sends admission warnings; made
    header-safe (CR/LF, non-latin-1, size) so they never cost a committed write's answer."""
    return warning_header(warnings)
