"""Admission: what the hub checks beyond the schema before storing a write.

* A ``Policy`` must compile: a bad CEL expression is 422 with CEL's own message and
  position, naming the rule (``spec.rules[0].expression``); so is a rule whose
  estimated cost is over the limit (``governance.costs``), with the estimate.
* An ``Application``'s overrides must each render a valid Assignment (422 naming
  ``spec.overrides[i].values...``, or the patch that cannot apply:
  ``spec.overrides[i].patches[j]...``), of the same runtime as the base workload.
* A kubernetes manifest with its own ``metadata.namespace`` (besides the workload's
  namespace) needs an Admission-scope Policy covering the application whose
  ``spec.kubernetes.allowedNamespaces`` holds it (422 naming
  ``spec.workload.kubernetes.manifests[i].metadata.namespace`` and the fix).
* A ``DataStream``'s sink must be one this hub has (``hub.datasinks.check_stream``).
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
from edgeplane.api.wire import Object
from edgeplane.governance.policies import (
    CompiledPolicy,
    PolicyError,
    Scope,
    allowed_namespaces,
    compile_policy,
    judge,
)
from edgeplane.hub.datasinks import SinkUrls, check_stream
from edgeplane.hub.errors import ApiError
from edgeplane.hub.overrides import Fragment, OverrideError, apply_override, kubernetes_rendered
from edgeplane.hub.warning_headers import warning_header
from edgeplane.store.protocol import Store

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
    def __init__(self, store: Store, sinks: SinkUrls | None = None) -> None:
        self._store = store
        self.sinks = sinks or SinkUrls()
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
        if obj.get("kind") == "DataStream":
            check_stream(obj, self.sinks)
            return []
        if obj.get("kind") != "Application":
            return []
        admission = [p for p in await self.policies() if p.scope is Scope.ADMISSION]
        checked_overrides(obj, allowed_namespaces(admission, obj))
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


def checked_overrides(obj: Object, allowed: frozenset[str] = frozenset()) -> None:
    """The workload, and each override rendered over it as the placement controller
    renders it, validated as an Assignment: 422 naming the field, so a typo or a patch
    that cannot apply is refused here and not found by placement at some site later.
    ``allowed``: the namespaces Policies let the manifests write into."""
    spec, name = obj["spec"], obj["metadata"]["name"]
    _checked_namespaces(spec["workload"], name, allowed, None)
    for i, override in enumerate(spec.get("overrides") or []):
        try:
            workload = apply_override(spec["workload"], override, i)
        except OverrideError as e:
            raise _invalid(name, e.field, f"the override cannot apply: {e.message}") from e
        _same_runtime(name, i, spec["workload"], workload)
        _checked_assignment(obj, i, override, workload)
        _checked_namespaces(workload, name, allowed, i)


def _invalid(name: str, field: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f'Application "{name}" is invalid: {field}: {message}', field)


def _same_runtime(name: str, i: int, base: Fragment, workload: Fragment) -> None:
    was = "kubernetes" if base.get("kubernetes") is not None else "process"
    now = "kubernetes" if workload.get("kubernetes") is not None else "process"
    hub_owned = (workload.get("kubernetes") or {}).get("allowedNamespaces") is not None
    if hub_owned:
        field = f"spec.overrides[{i}].values.kubernetes.allowedNamespaces"
        raise _invalid(name, field, "is written by the hub from Policies: remove it")
    if now != was:
        raise _invalid(
            name,
            f"spec.overrides[{i}].values",
            f"makes the {was} workload a {now} one; placement chose the sites for a {was} "
            "workload: keep the workload's kind in overrides",
        )


def _checked_assignment(obj: Object, i: int, override: Fragment, workload: Fragment) -> None:
    spec, name = obj["spec"], obj["metadata"]["name"]
    raw = {
        "apiVersion": API_VERSION,
        "kind": "Assignment",
        "metadata": {"name": "admission-check"},
        "spec": {
            "application": name,
            "revision": 1,
            "site": override.get("site") or "admission-check",
            "replicas": 1,
            "workload": workload,
            **({"resources": spec["resources"]} if spec.get("resources") else {}),
        },
    }
    try:
        validate_object(raw, expected_kind="Assignment")
    except InvalidObject as e:
        inner = (e.field or "").removeprefix("spec.workload")
        field = f"spec.overrides[{i}].values{inner}"
        problems = "; ".join(str(p).removeprefix("spec.workload") for p in e.errors)
        raise _invalid(
            name,
            field,
            f"the override makes an invalid workload ({problems}): change or remove the "
            "override's value",
        ) from e


def _checked_namespaces(
    workload: Fragment, name: str, allowed: frozenset[str], i: int | None
) -> None:
    """422 for a manifest writing into a namespace no Policy allows the application."""
    if workload.get("kubernetes") is None:
        return
    try:
        kubernetes_rendered(workload, name, None, allowed)
    except OverrideError as e:
        if i is None:
            raise _invalid(name, e.field, e.message) from e
        inner = e.field.removeprefix("spec.workload.kubernetes.")
        raise _invalid(name, f"spec.overrides[{i}]", f"makes {inner} {e.message}") from e


def warning_headers(warnings: list[str]) -> dict[str, Any]:
    """RFC 7234 ``Warning`` headers, as Kubernetes sends admission warnings; made
    header-safe (CR/LF, non-latin-1, size) so they never cost a committed write's answer."""
    return warning_header(warnings)
