"""Admission: what the hub checks beyond the schema before storing a write.

* A ``Policy`` must compile: a bad CEL expression is 422 with CEL's own message and
  position, naming the rule (``spec.rules[0].expression``).
* An ``Application`` must pass the Admission-scope policies that cover it: a Deny
  violation is 422 ``PolicyDenied`` and nothing is stored; Warn violations are
  returned as ``Warning`` headers; Audit violations are logged.

Compiled policies are cached by (name, generation), so a write costs one list of the
policies and no compiling once they are known.
"""

from __future__ import annotations

import logging
from typing import Any

from edgeplane.governance.policies import (
    CompiledPolicy,
    PolicyError,
    Scope,
    compile_policy,
    judge,
)
from edgeplane.hub.errors import ApiError
from edgeplane.hub.warning_headers import warning_header
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.admission")


def checked_policy(obj: Object) -> CompiledPolicy:
    try:
        return compile_policy(obj)
    except PolicyError as e:
        name = obj["metadata"]["name"]
        raise ApiError(
            422,
            "Invalid",
            f'Policy "{name}" is invalid: {e.field}: the CEL expression does not compile: '
            f"{e.message}",
            e.field,
        ) from e


class PolicyCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._compiled: dict[tuple[str, int], CompiledPolicy] = {}

    async def policies(self) -> list[CompiledPolicy]:
        """Every stored policy, compiled (ones that no longer compile are skipped)."""
        found, token = [], None
        while True:
            page = await self._store.list("Policy", None, 1000, token)
            for obj in page.items:
                key = (obj["metadata"]["name"], int(obj["metadata"].get("generation") or 1))
                if key not in self._compiled:
                    try:
                        self._compiled[key] = compile_policy(obj)
                    except PolicyError as e:
                        log.error("policy %s does not compile: %s", key[0], e)
                        continue
                found.append(self._compiled[key])
            if not (token := page.continue_token):
                return found

    async def admit(self, obj: Object) -> list[str]:
        """Check a write; the warnings to return. ApiError 422 when a Deny rule fails."""
        if obj.get("kind") == "Policy":
            checked_policy(obj)
            return []
        if obj.get("kind") != "Application":
            return []
        admission = [p for p in await self.policies() if p.scope is Scope.ADMISSION]
        verdict = judge(admission, obj)
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


def warning_headers(warnings: list[str]) -> dict[str, Any]:
    """RFC 7234 ``Warning`` headers, as Kubernetes sends admission warnings; made
    header-safe (CR/LF, non-latin-1, size) so they never cost a committed write's answer."""
    return warning_header(warnings)
