"""Label selectors: the query language over labels, in both Kubernetes spellings.

* ``LabelSelector`` is the structured form written in specs (``matchLabels`` and
  ``matchExpressions`` with In / NotIn / Exists / DoesNotExist).
* ``parse_selector`` reads the string form used on the API and the CLI
  (``a=b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``).

Both become a ``Selector``: a frozen conjunction of ``Requirement``s that the store
translates to SQL and that anyone can evaluate with ``matches``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from edgeplane.api.labels import check_label_key, check_label_value


class SelectorError(ValueError):
    """A selector that cannot be parsed or is invalid; the message says what to fix."""


# Bounds that keep a hostile selector from costing the store (each requirement is an
# EXISTS subquery, each value a bound parameter) or the parser more than a real one.
# Kubernetes leaves them to the URL length; a fleet's selectors name a handful of labels.
MAX_REQUIREMENTS = 50
MAX_VALUES = 100
MAX_SELECTOR_CHARS = 8192


class Operator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if self.operator is Operator.IN:
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if len(self.values) == 1:
            op = "=" if self.operator is Operator.IN else "!="
            return f"{self.key}{op}{self.values[0]}"
        op = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def make_requirement(key: str, operator: Operator, values: tuple[str, ...] = ()) -> Requirement:
    """Build a requirement, checking key, values and arity by Kubernetes rules."""
    if problem := check_label_key(key):
        raise SelectorError(f"label key {key!r}: {problem}")
    for value in values:
        if problem := check_label_value(value):
            raise SelectorError(f"label value {value!r} for key {key!r}: {problem}")
    if len(values) > MAX_VALUES:
        raise SelectorError(
            f"key {key!r} lists {len(values)} values, more than the limit of {MAX_VALUES}: "
            "give the sites a shared label and select on that instead"
        )
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        raise SelectorError(f"operator {operator.value} on key {key!r} needs at least one value")
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        raise SelectorError(f"operator {operator.value} on key {key!r} takes no values")
    return Requirement(key, operator, tuple(sorted(set(values))))


# Used with fullmatch: a term is all of its text or nothing. ASCII: with Unicode \s,
# "tier=edge\u00a0" or "site=a\x1f" read as "tier=edge" and "site=a" (names are whole).
_SET_OP = re.compile(
    r"\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*", re.ASCII
)
_EQ_OP = re.compile(
    r"\s*(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)\s*", re.ASCII
)
_EXISTS = re.compile(r"\s*(?P<neg>!)?\s*(?P<key>[^\s!=(),]+)\s*", re.ASCII)
_SPACE = " \t\n\r\f\v"  # what re.ASCII's \s matches


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' at position {i} in selector {text!r}")
        elif char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    if depth:
        raise SelectorError(f"unclosed '(' in selector {text!r}")
    terms.append(text[start:])
    return terms


def _parse_term(term: str) -> Requirement:
    if m := _SET_OP.fullmatch(term):
        # Empty values are values ("a in (,b)" matches a="" too), but "()" has none.
        text = m["values"]
        values = tuple(v.strip(_SPACE) for v in text.split(",")) if text.strip(_SPACE) else ()
        op = Operator.IN if m["op"] == "in" else Operator.NOT_IN
        return make_requirement(m["key"], op, values)
    if m := _EQ_OP.fullmatch(term):
        op = Operator.NOT_IN if m["op"] == "!=" else Operator.IN
        return make_requirement(m["key"], op, (m["value"],))
    if m := _EXISTS.fullmatch(term):
        op = Operator.DOES_NOT_EXIST if m["neg"] else Operator.EXISTS
        return make_requirement(m["key"], op)
    raise SelectorError(
        f"cannot parse selector term {term.strip()!r}: use key=value, key!=value, "
        "key in (a,b), key notin (a,b), key or !key"
    )


def parse_selector(text: str | None) -> Selector:
    """Parse the string form of a label selector; empty or None selects everything."""
    if text is None or not text.strip(_SPACE):
        return Selector()
    if len(text) > MAX_SELECTOR_CHARS:
        raise SelectorError(
            f"the selector is {len(text)} characters long, more than the limit of "
            f"{MAX_SELECTOR_CHARS}: select on fewer labels or values"
        )
    terms = _split_terms(text)
    check_requirement_count(len(terms))
    return Selector(tuple(_parse_term(term) for term in terms))


def check_requirement_count(count: int) -> None:
    """Refuse a selector of more than ``MAX_REQUIREMENTS`` requirements."""
    if count > MAX_REQUIREMENTS:
        raise SelectorError(
            f"the selector has {count} requirements, more than the limit of "
            f"{MAX_REQUIREMENTS}: select on fewer labels (a shared label or a SiteGroup)"
        )


def _without_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out empty lists and maps, so a selector goes back on the wire as written."""
    return {k: v for k, v in data.items() if v != [] and v != {}}


class LabelSelectorRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    operator: Operator
    values: list[str] = Field(default_factory=list, max_length=MAX_VALUES)

    @model_validator(mode="after")
    def _check(self) -> LabelSelectorRequirement:
        try:
            make_requirement(self.key, self.operator, tuple(self.values))
        except SelectorError as e:
            raise ValueError(str(e)) from e
        return self

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_empty(handler(self))


class LabelSelector(BaseModel):
    """The structured selector of Kubernetes specs; empty selects everything."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, alias="matchExpressions", max_length=MAX_REQUIREMENTS
    )

    @field_validator("match_labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        check_requirement_count(len(value))
        for key, label_value in value.items():
            make_requirement(key, Operator.IN, (label_value,))
        return value

    @model_validator(mode="after")
    def _check_count(self) -> LabelSelector:
        try:
            check_requirement_count(len(self.match_labels) + len(self.match_expressions))
        except SelectorError as e:
            raise ValueError(str(e)) from e
        return self

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_empty(handler(self))

    def to_selector(self) -> Selector:
        reqs = [
            make_requirement(k, Operator.IN, (v,)) for k, v in sorted(self.match_labels.items())
        ]
        reqs += [
            make_requirement(e.key, e.operator, tuple(e.values)) for e in self.match_expressions
        ]
        return Selector(tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return self.to_selector().matches(labels)


def selector_from_dict(raw: Mapping[str, Any]) -> Selector:
    """Validate a raw ``{matchLabels, matchExpressions}`` mapping into a ``Selector``."""
    return LabelSelector.model_validate(raw).to_selector()
