"""Turn raw wire data into a validated resource, or a list of field errors.

``validate_object`` is the one door into the typed world: it checks the envelope
(a mapping, apiVersion, kind, metadata.name) before the model, and translates
pydantic's errors into ``FieldError``s with wire paths and a hint at the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from edgeplane.api.kinds import KINDS, KindInfo, UnknownKind, kind_info
from edgeplane.api.resources import API_VERSION, Resource


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidObject(ValueError):
    def __init__(self, kind: str, name: str, errors: tuple[FieldError, ...]) -> None:
        what = f'{kind or "object"} "{name}"' if name else (kind or "object")
        super().__init__(f"{what} is invalid: " + "; ".join(str(e) for e in errors))
        self.kind, self.name, self.errors = kind, name, errors

    @property
    def field(self) -> str | None:
        return self.errors[0].field or None if self.errors else None


def validate_object(raw: object, expected_kind: str | None = None) -> Resource:
    """Validate ``raw`` as an edgeplane object (of ``expected_kind`` when given)."""
    if not isinstance(raw, Mapping):
        raise InvalidObject(expected_kind or "", "", (FieldError("", _not_mapping(raw)),))
    kind = raw.get("kind")
    name = _name_of(raw)
    info = _check_envelope(raw, kind, name, expected_kind)
    try:
        return info.model.model_validate(raw)
    except ValidationError as e:
        errors = tuple(_field_error(err, info.model) for err in e.errors())
        raise InvalidObject(info.kind, name, errors) from e


def to_wire(resource: BaseModel) -> dict[str, Any]:
    """The JSON-ready wire form: camelCase keys, unset optional fields left out."""
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


def _not_mapping(raw: object) -> str:
    return f"expected an object with apiVersion, kind, metadata and spec, got {type(raw).__name__}"


def _name_of(raw: Mapping[str, Any]) -> str:
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


def _check_envelope(
    raw: Mapping[str, Any], kind: object, name: str, expected_kind: str | None
) -> KindInfo:
    label = str(kind) if isinstance(kind, str) else (expected_kind or "")
    problems: list[FieldError] = []
    if raw.get("apiVersion") != API_VERSION:
        got = raw.get("apiVersion")
        problems.append(FieldError("apiVersion", f"must be {API_VERSION!r} (got {got!r})"))
    info = None
    if not isinstance(kind, str) or not kind:
        problems.append(FieldError("kind", f"is required: one of {_kind_list()}"))
    else:
        try:
            info = kind_info(kind)
            if info.kind != kind:
                raise UnknownKind(kind)
        except UnknownKind:
            problems.append(FieldError("kind", f"unknown kind {kind!r}: use one of {_kind_list()}"))
            info = None
    if info and expected_kind and info.kind != expected_kind:
        problems.append(FieldError("kind", f"must be {expected_kind!r} here (got {kind!r})"))
    if not name:
        problems.append(FieldError("metadata.name", "is required: give the object a name"))
    if problems or info is None:
        raise InvalidObject(label, name, tuple(problems))
    return info


def _kind_list() -> str:
    return ", ".join(k.kind for k in KINDS)


def _path(loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    parts: list[str] = []
    current: Any = model
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            continue
        alias = _alias(current, item)
        if alias is None:
            # Not a field: a union branch tag or a dict key; dict keys go in brackets.
            if item in {"list[EnvVar]", "dict[str,str]", "function-after", "tagged-union"}:
                continue
            if parts and current is dict:
                parts[-1] += f"[{item}]"
                continue
            parts.append(str(item))
            continue
        parts.append(alias)
        current = _field_type(current, item)
    return ".".join(parts)


def _alias(model: Any, name: str) -> str | None:
    fields = getattr(model, "model_fields", None)
    if not fields:
        return None
    for field_name, field in fields.items():
        if name in (field_name, field.alias):
            return str(field.alias or field_name)
    return None


def _field_type(model: Any, name: str) -> Any:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return _model_in(field.annotation)
    return None


def _model_in(annotation: Any) -> Any:
    """The BaseModel (or dict) inside an annotation like ``list[X] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = getattr(annotation, "__origin__", None)
    if origin is dict:
        return dict
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_error(err: Any, model: type[BaseModel]) -> FieldError:
    loc = tuple(err["loc"])
    path = _path(loc, model)
    if err["type"] == "extra_forbidden":
        parent = _parent_model(loc[:-1], model)
        known = (
            ", ".join(sorted(f.alias or n for n, f in parent.model_fields.items()))
            if parent
            else ""
        )
        hint = f" (known fields here: {known})" if known else ""
        return FieldError(path, f"unknown field; remove it or check its spelling{hint}")
    if err["type"] == "missing":
        return FieldError(path, "is required")
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] not in {"value_error", "assertion_error"} and "input" in err:
        message += f" (got {err['input']!r})"
    return FieldError(path, message)


def _parent_model(loc: tuple[int | str, ...], model: type[BaseModel]) -> type[BaseModel] | None:
    current: Any = model
    for item in loc:
        if isinstance(item, int):
            continue
        nxt = _field_type(current, item) if getattr(current, "model_fields", None) else None
        if nxt is None:
            continue
        current = nxt
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None
