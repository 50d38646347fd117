"""Validation errors on the wire: ``FieldError``, ``InvalidObject``, and the translation
of pydantic's errors into them.

Pydantic reports locations in Python terms (``('spec', 'placement', 'replicas')``,
union branch tags, ``[key]`` markers); users wrote camelCase YAML. ``field_errors``
walks the models along each location to give back the path the user wrote
(``spec.placement.replicas``, ``metadata.labels[bad key]``) and a message that says
what to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidObject(ValueError):
    """An object that failed validation; ``errors`` lists every problem found."""

    def __init__(self, kind: str, name: str, errors: tuple[FieldError, ...]) -> None:
        what = f'{kind or "object"} "{name}"' if name else (kind or "object")
        super().__init__(f"{what} is invalid: " + "; ".join(str(e) for e in errors))
        self.kind, self.name, self.errors = kind, name, errors

    @property
    def field(self) -> str | None:
        return self.errors[0].field or None if self.errors else None


def field_errors(errors: Iterable[ErrorDetails], model: type[BaseModel]) -> tuple[FieldError, ...]:
    """Translate pydantic errors against ``model`` into wire-path ``FieldError``s."""
    found = [_translate(err, model) for err in errors]
    # A union reports every branch; when one branch got further, the others' type
    # complaints are noise, and the rest read better as one "must be A or B".
    found = [t for t in found if not (t.mismatch and _deeper(t, found))]
    return tuple(dict.fromkeys(_merge_mismatches(found)))


@dataclass(frozen=True)
class _Translated:
    field: str
    message: str
    got: str = ""
    mismatch: bool = False  # a union branch whose type did not fit


_SHOULD = re.compile(r"^(Input|String|List|Value|Dictionary|Object|Decimal|Tuple) should ")


def _translate(err: ErrorDetails, model: type[BaseModel]) -> _Translated:
    path, parent, branched = _walk(tuple(err["loc"]), model)
    if err["type"] == "extra_forbidden":
        return _Translated(path, _unknown_field(parent))
    if err["type"] == "missing":
        return _Translated(path, "is required")
    message = _SHOULD.sub("must ", err["msg"].removeprefix("Value error, "))
    # pydantic's "at most 100 items after validation, not 101": the count is the user's.
    message = message.replace(" items after validation,", " items,")
    if err["type"] in {"value_error", "assertion_error"} or "input" not in err:
        return _Translated(path, message)
    mismatch = branched and err["type"].endswith(("_type", "_parsing"))
    return _Translated(path, message, f" (got {_short(err['input'])})", mismatch)


def _deeper(error: _Translated, found: list[_Translated]) -> bool:
    prefix = error.field
    return any(f.field.startswith((f"{prefix}.", f"{prefix}[")) for f in found)


def _merge_mismatches(found: list[_Translated]) -> list[FieldError]:
    alternatives: dict[str, list[str]] = {}
    for t in found:
        if t.mismatch:
            alternatives.setdefault(t.field, []).append(t.message.removeprefix("must be "))
    merged: list[FieldError] = []
    for t in found:
        if not t.mismatch:
            merged.append(FieldError(t.field, t.message + t.got))
        elif len(options := alternatives[t.field]) > 1:
            merged.append(FieldError(t.field, f"must be {' or '.join(options)}{t.got}"))
        else:
            merged.append(FieldError(t.field, t.message + t.got))
    return merged


def _unknown_field(parent: Any) -> str:
    fields = getattr(parent, "model_fields", None)
    if not fields:
        return "unknown field; remove it"
    known = ", ".join(sorted(f.alias or n for n, f in fields.items()))
    return f"unknown field; remove it or check its spelling (known fields here: {known})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _walk(loc: tuple[int | str, ...], model: type[BaseModel]) -> tuple[str, Any, bool]:
    """The wire path of ``loc``, the model holding its last element, and whether the
    location passed through a union branch."""
    parts: list[str] = []
    current: Any = model
    parent: Any = model
    branched = False
    for item in loc:
        parent = current
        if isinstance(item, int) or current is dict:
            # List indexes and map keys go in brackets after the field they belong to.
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            current = _after_index(current)
        elif (field := _field(current, item)) is not None:
            parts.append(field[0])
            current = field[1]
        elif _is_tag(item, current):
            current = dict if item.startswith("dict[") else current
            branched = True
        else:
            parts.append(item)
            current = None
    return ".".join(parts), parent, branched


def _after_index(current: Any) -> Any:
    # Items of list[Model] are that model; values of our maps are plain.
    return None if current is dict else current


def _is_tag(item: str, current: Any = None) -> bool:
    """Pydantic's markers inside a location: union branches (a model branch is named
    after its class), validators, map keys."""
    return "[" in item or item in _TAGS or item == getattr(current, "__name__", None)


_TAGS = {
    "int",
    "float",
    "str",
    "bool",
    "function-after",
    "function-plain",
    "tagged-union",
    "constrained-int",
    "constrained-str",
    "constrained-float",
}


def _field(model: Any, name: str) -> tuple[str, Any] | None:
    """A field of ``model`` by name or alias: its wire name and the model inside it."""
    for field_name, field in (getattr(model, "model_fields", None) or {}).items():
        if name in (field_name, field.alias):
            return str(field.alias or field_name), _model_in(field.annotation)
    return None


def _model_in(annotation: Any) -> Any:
    """The BaseModel (or ``dict``) inside an annotation like ``list[X] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if getattr(annotation, "__origin__", None) is dict:
        return dict
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None
