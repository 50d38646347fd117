"""Compiling ``Policy`` objects and evaluating their CEL rules.

A rule is a CEL expression that must hold. It sees three plain maps:

* ``app``: the Application as stored (``app.metadata.labels``, ``app.spec...``);
* ``site``: ``{"labels": {...}}`` (placement scope only; an empty map at admission).
  Only labels, so that a verdict holds for every site with the same label set;
* ``tenant``: the tenant's facts (empty until tenants exist).

A rule that evaluates to ``true`` holds. ``false``, a non-boolean, or an evaluation
error (say a label the site does not have) is a violation: a policy that cannot be
shown to hold does not hold.

Costs (``costs``): a rule whose estimated cost is over ``MAX_RULE_COST`` does not
compile for a write (admission answers 422 with the estimate and the limit); one
already stored is compiled as a rule that fails with that reason, never evaluated. At
evaluation, cel-cpp stops a rule past 10,000 comprehension iterations, and a rule
whose evaluation took more than ``RULE_SECONDS`` of CPU fails, then and every later time
(it is not evaluated again until the policy changes): each is a violation with its
reason, never a stall of the placement pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel

from edgeplane.api.policies import Enforcement
from edgeplane.api.policies import PolicyScope as Scope
from edgeplane.api.selectors import Selector, selector_from_dict
from edgeplane.governance.costs import MAX_RULE_COST, CostError, estimate

__all__ = ["Enforcement", "Scope"]  # the API's own enums, re-exported for callers here

_MAP = cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
_ENV = cel.NewEnv(variables={"app": _MAP, "site": _MAP, "tenant": _MAP})


RULE_SECONDS = 0.25
"""CPU time one evaluation of a rule may take before the rule fails."""


class PolicyError(ValueError):
    """A rule that does not compile, or costs too much; ``field`` points at it, the
    message is CEL's (or the estimate and the limit)."""

    def __init__(self, field: str, message: str, cost: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.cost = field, message, cost


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    message: str
    program: Any
    """The compiled CEL expression."""
    cost: int = 0
    """Its estimated cost (``costs``)."""
    refused: list[str] = field(default_factory=list, compare=False)
    """Why it fails without being evaluated (too costly; once too slow)."""


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    generation: int
    scope: Scope
    enforcement: Enforcement
    selector: Selector
    """Which applications the policy covers (by their labels); empty covers all."""
    rules: tuple[Rule, ...]
    move_on_violation: bool = True
    allowed_namespaces: frozenset[str] = frozenset()
    """Namespaces the applications it covers may write into besides their own
    (``spec.kubernetes.allowedNamespaces``; Admission scope)."""

    def covers(self, app: Mapping[str, Any]) -> bool:
        return self.selector.matches(app.get("metadata", {}).get("labels") or {})


@dataclass(frozen=True)
class Violation:
    policy: str
    rule: str
    enforcement: Enforcement
    message: str

    def __str__(self) -> str:
        return f"policy {self.policy} rule {self.rule}: {self.message}"


def _cel_message(error: Exception) -> str:
    text = str(error).removeprefix("INVALID_ARGUMENT: ").removesuffix(" [INVALID_ARGUMENT]")
    return text.replace("<input>:", "").strip()


def compile_rule(rule: Mapping[str, Any], where: str, refuse_costly: bool = True) -> Rule:
    """One rule compiled and its cost estimated: PolicyError when it does not compile,
    or (``refuse_costly``) costs more than ``MAX_RULE_COST``; otherwise a costly rule
    is one that always fails."""
    expression = str(rule.get("expression", ""))
    try:
        program = _ENV.compile(expression)
        cost = estimate(program.serialize())
    except RuntimeError as e:
        raise PolicyError(f"{where}.expression", _cel_message(e)) from e
    except CostError as e:
        raise PolicyError(f"{where}.expression", str(e)) from e
    message = str(rule.get("message") or f"{expression} does not hold")
    compiled = Rule(str(rule["name"]), expression, message, program, cost)
    if cost > MAX_RULE_COST:
        why = (
            f"its estimated cost {cost:,} is over the limit {MAX_RULE_COST:,}: iterate over "
            "fewer or smaller lists, and match or compare shorter strings"
        )
        if refuse_costly:
            raise PolicyError(f"{where}.expression", why, cost)
        compiled.refused.append(why)
    return compiled


def compile_policy(obj: Mapping[str, Any], refuse_costly: bool = True) -> CompiledPolicy:
    """A stored Policy, compiled; PolicyError naming the first rule that fails."""
    spec = obj["spec"]
    rules = tuple(
        compile_rule(rule, f"spec.rules[{i}]", refuse_costly)
        for i, rule in enumerate(spec.get("rules") or [])
    )
    selector = spec.get("selector")
    return CompiledPolicy(
        name=obj["metadata"]["name"],
        generation=int(obj["metadata"].get("generation") or 1),
        scope=Scope(spec["scope"]),
        enforcement=Enforcement(spec.get("enforcement") or "Deny"),
        selector=selector_from_dict(selector) if selector else Selector(),
        rules=rules,
        move_on_violation=spec.get("onViolation", "Move") == "Move",
        allowed_namespaces=frozenset((spec.get("kubernetes") or {}).get("allowedNamespaces") or ()),
    )


def allowed_namespaces(
    policies: Iterable[CompiledPolicy], app: Mapping[str, Any]
) -> frozenset[str]:
    """The namespaces the Admission-scope policies covering ``app`` let its manifests
    write into (besides its own namespace)."""
    found: set[str] = set()
    for policy in policies:
        if policy.scope is Scope.ADMISSION and policy.covers(app):
            found |= policy.allowed_namespaces
    return frozenset(found)


def _holds(rule: Rule, data: Mapping[str, Any]) -> tuple[bool, str]:
    if rule.refused:
        return False, f"{rule.message} (not evaluated: {rule.refused[0]})"
    # CPU time of this thread, not wall-clock: a busy machine or another thread must
    # not make a quick rule look slow (a tripped Deny rule excludes every site).
    started = time.thread_time()
    try:
        value = rule.program.eval(data=data)
    except RuntimeError as e:
        return False, f"{rule.message} (evaluation error: {_cel_message(e)})"
    finally:
        took = time.thread_time() - started
        if took > RULE_SECONDS:  # told on this evaluation, and every later one
            rule.refused.append(
                f"an evaluation took {took:.2f} s of CPU, over the limit of {RULE_SECONDS} s"
            )
    if rule.refused:
        return False, f"{rule.message} (evaluation stopped: {rule.refused[0]})"
    if value.type() == cel.Type.ERROR:
        return False, f"{rule.message} (evaluation error: {value.value()})"
    result = value.value()
    if result is True:
        return True, ""
    if result is False:
        return False, rule.message
    return False, f"{rule.message} (the rule gave {result!r}, not a boolean)"


def evaluate(
    policy: CompiledPolicy,
    app: Mapping[str, Any],
    site: Mapping[str, Any] | None = None,
    tenant: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """The violations of ``policy`` by this application (at this site)."""
    data = {"app": app, "site": site or {}, "tenant": tenant or {}}
    found = []
    for rule in policy.rules:
        held, why = _holds(rule, data)
        if not held:
            found.append(Violation(policy.name, rule.name, policy.enforcement, why))
    return found


@dataclass(frozen=True)
class Verdict:
    """What the policies of one scope say about one application (at one site)."""

    denied: tuple[Violation, ...] = ()
    warnings: tuple[Violation, ...] = ()
    audits: tuple[Violation, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.denied


def may_stay(policies: Iterable[CompiledPolicy]) -> bool:
    """Whether a site an application runs at already keeps it though it violates
    ``policies`` (their Deny rules): when every one says ``onViolation: Report``."""
    return all(not p.move_on_violation for p in policies)


def policy_reason(verdict: tuple[str | None, bool], held: bool) -> str | None:
    """Why placement keeps an application off a site, from the policies' verdict for
    it: (why excluded or None, whether a held site may stay). A site held already
    stays when it may (``onViolation: Report``); else the exclusion stands."""
    why, stays = verdict
    return None if why is None or (held and stays) else why


def judge(
    policies: Iterable[CompiledPolicy],
    app: Mapping[str, Any],
    site: Mapping[str, Any] | None = None,
) -> Verdict:
    """Every covering policy evaluated, sorted by enforcement."""
    found: dict[Enforcement, list[Violation]] = {e: [] for e in Enforcement}
    for policy in policies:
        if policy.covers(app):
            for violation in evaluate(policy, app, site):
                found[violation.enforcement].append(violation)
    return Verdict(
        tuple(found[Enforcement.DENY]),
        tuple(found[Enforcement.WARN]),
        tuple(found[Enforcement.AUDIT]),
    )
