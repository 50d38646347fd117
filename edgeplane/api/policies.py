"""``Policy``: governance rules written in CEL, evaluated at admission (per application)
or at placement (per application and site), with enforcement Deny, Warn or Audit.

Here a rule's expression is only checked to be there; compiling CEL belongs to
``edgeplane.governance``.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field, field_validator

from edgeplane.api.errors import FieldError
from edgeplane.api.kubernetes import NAMESPACES_MAX, Namespace
from edgeplane.api.meta import Conditions, Message, Model, RequiredText, Resource
from edgeplane.api.selectors import LabelSelector


class PolicyScope(enum.StrEnum):
    ADMISSION = "Admission"
    PLACEMENT = "Placement"


class Enforcement(enum.StrEnum):
    DENY = "Deny"
    WARN = "Warn"
    AUDIT = "Audit"


class OnViolation(enum.StrEnum):
    MOVE = "Move"
    REPORT = "Report"


class PolicyRule(Model):
    name: RequiredText
    expression: str = Field(min_length=1)
    message: Message | None = None

    @field_validator("expression")
    @classmethod
    def _not_blank(cls, expression: str) -> str:
        if not expression.strip():
            raise ValueError("expression is blank: write a CEL expression that must hold")
        return expression


class KubernetesAllowance(Model):
    """What the applications a policy selects may do on Kubernetes besides their own
    namespace: carry manifests whose ``metadata.namespace`` is one of these."""

    allowed_namespaces: list[Namespace] = Field(
        alias="allowedNamespaces", min_length=1, max_length=NAMESPACES_MAX
    )

    @field_validator("allowed_namespaces")
    @classmethod
    def _once(cls, namespaces: list[str]) -> list[str]:
        if twice := sorted({n for n in namespaces if namespaces.count(n) > 1}):
            raise ValueError(f"namespace {twice[0]!r} appears twice: list each once")
        return namespaces


class PolicySpec(Model):
    scope: PolicyScope
    enforcement: Enforcement = Enforcement.DENY
    rules: list[PolicyRule] = Field(default_factory=list)
    selector: LabelSelector | None = None
    on_violation: OnViolation | None = Field(default=None, alias="onViolation")
    kubernetes: KubernetesAllowance | None = None


class PolicyStatus(Model):
    conditions: Conditions | None = None


class Policy(Resource):
    kind: Literal["Policy"] = "Policy"
    spec: PolicySpec
    status: PolicyStatus | None = None


def policy_problems(policy: Policy) -> tuple[FieldError, ...]:
    """Checks across fields, each naming its field (``validation`` runs them)."""
    spec = policy.spec
    if not spec.rules and spec.kubernetes is None:
        return (FieldError("spec.rules", "is empty: write at least one rule (or set kubernetes)"),)
    if spec.kubernetes is not None and spec.scope is not PolicyScope.ADMISSION:
        return (
            FieldError(
                "spec.kubernetes",
                "is read at admission: set scope: Admission (or move it to a policy of that scope)",
            ),
        )
    return ()
