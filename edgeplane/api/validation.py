"""Turn raw wire data into a validated resource, or a list of field errors.

``validate_object`` is the one door into the typed world: it checks the envelope
(a mapping, apiVersion, kind, metadata.name) before the model, then lets the model
check the rest; ``errors.field_errors`` turns pydantic's complaints into wire paths.
``to_wire`` is the way back out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from edgeplane.api.appchecks import application_problems
from edgeplane.api.applications import Application
from edgeplane.api.assignments import Assignment
from edgeplane.api.errors import FieldError, InvalidObject, field_errors
from edgeplane.api.kinds import KINDS, KindInfo, UnknownKind, kind_info
from edgeplane.api.policies import Policy, policy_problems
from edgeplane.api.resources import API_VERSION, Resource
from edgeplane.api.wellknown import SITE_LABEL
from edgeplane.api.wire import Object

__all__ = ["FieldError", "InvalidObject", "to_wire", "validate_object"]


def validate_object(raw: object, expected_kind: str | None = None) -> Resource:
    """Validate ``raw`` as an edgeplane object (of ``expected_kind`` when given)."""
    if not isinstance(raw, Mapping):
        raise InvalidObject(expected_kind or "", "", (FieldError("", _not_mapping(raw)),))
    name = _name_of(raw)
    info = _check_envelope(raw, name, expected_kind)
    try:
        resource = info.model.model_validate(raw)
    except ValidationError as e:
        raise InvalidObject(info.kind, name, field_errors(e.errors(), info.model)) from e
    if isinstance(resource, Assignment) and (problem := _site_label_problem(resource)):
        raise InvalidObject(info.kind, name, (problem,))
    if isinstance(resource, Application) and (problems := application_problems(resource)):
        raise InvalidObject(info.kind, name, problems)
    if isinstance(resource, Policy) and (problems := policy_problems(resource)):
        raise InvalidObject(info.kind, name, problems)
    return resource


def _site_label_problem(assignment: Assignment) -> FieldError | None:
    """A site's list and watch narrow on the site label, its get and status writes on
    spec.site: a label naming another site showed that site this one's workload."""
    label = assignment.metadata.labels.get(SITE_LABEL)
    if label is None or label == assignment.spec.site:
        return None
    return FieldError(
        f"metadata.labels[{SITE_LABEL}]",
        f"is {label!r} but spec.site is {assignment.spec.site!r}: they must name the same "
        "site: correct the one that is wrong",
    )


def to_wire(resource: BaseModel) -> Object:
    """The JSON-ready wire form: camelCase keys, unset optional fields left out."""
    # The one place validated data becomes wire data: the model vouches for its shape.
    return cast(Object, resource.model_dump(mode="json", by_alias=True, exclude_none=True))


def _not_mapping(raw: object) -> str:
    return f"expected an object with apiVersion, kind, metadata and spec, got {type(raw).__name__}"


def _name_of(raw: Mapping[str, Any]) -> str:
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


def _check_envelope(raw: Mapping[str, Any], name: str, expected_kind: str | None) -> KindInfo:
    kind = raw.get("kind")
    problems: list[FieldError] = []
    if raw.get("apiVersion") != API_VERSION:
        got = raw.get("apiVersion")
        problems.append(FieldError("apiVersion", f"must be {API_VERSION!r} (got {got!r})"))
    info = _known_kind(kind, problems)
    if info and expected_kind and info.kind != expected_kind:
        problems.append(FieldError("kind", f"must be {expected_kind!r} here (got {kind!r})"))
    if not name:
        problems.append(FieldError("metadata.name", "is required: give the object a name"))
    if problems or info is None:
        label = kind if isinstance(kind, str) else (expected_kind or "")
        raise InvalidObject(label, name, tuple(problems))
    return info


def _known_kind(kind: object, problems: list[FieldError]) -> KindInfo | None:
    """The kind's registry entry; only the exact kind name is accepted on the wire."""
    if not isinstance(kind, str) or not kind:
        problems.append(FieldError("kind", f"is required: one of {_kind_list()}"))
        return None
    try:
        info = kind_info(kind)
    except UnknownKind:
        info = None
    if info is None or info.kind != kind:
        hint = f" (did you mean {info.kind!r}?)" if info else ""
        problems.append(
            FieldError("kind", f"unknown kind {kind!r}: use one of {_kind_list()}{hint}")
        )
        return None
    return info


def _kind_list() -> str:
    return ", ".join(k.kind for k in KINDS)
