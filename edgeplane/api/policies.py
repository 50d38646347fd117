"""``Policy``: governance rules written in CEL, evaluated at admission (per application)
or at placement (per application and site), with enforcement Deny, Warn or Audit.

Here a rule's expression is only checked to be there; compiling CEL belongs to
``edgeplane.governance``.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field, field_validator

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


class PolicySpec(Model):
    scope: PolicyScope
    enforcement: Enforcement = Enforcement.DENY
    rules: list[PolicyRule] = Field(min_length=1)
    selector: LabelSelector | None = None
    on_violation: OnViolation | None = Field(default=None, alias="onViolation")

    @field_validator("rules")
    @classmethod
    def _names_once(cls, rules: list[PolicyRule]) -> list[PolicyRule]:
        names = [rule.name for rule in rules]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"rule names must be unique: {', '.join(twice)} used twice")
        return rules


class PolicyStatus(Model):
    conditions: Conditions | None = None


class Policy(Resource):
    kind: Literal["Policy"] = "Policy"
    spec: PolicySpec
    status: PolicyStatus | None = None
