"""Request bodies in: strict JSON objects, refused with a 400 naming where and why.

Python's ``json.loads`` is lenient where a hostile client can hurt: it takes ``NaN``
and ``Infinity`` (not JSON), turns ``1e400`` into infinity, guesses UTF-16 from the
first bytes, keeps lone surrogates that fail later when the object is written out, and
raises ``RecursionError`` (a 500) on deep nesting, and keeps the last of two equal keys
without a word. ``parse_object`` closes each of
these before a body reaches validation, so every malformed body is a 400 and the
store never sees it.

The envelope checks shared by the write routes (``metadata`` is a mapping, its name a
string, its resourceVersion a resourceVersion) are here too, so a body like
``{"metadata": "x"}`` is a 422 naming the field rather than an AttributeError.
"""

from __future__ import annotations

import json
import math
from typing import Any

from edgeplane.api.meta import check_resource_version
from edgeplane.hub.errors import ApiError, bad_request

MAX_DEPTH = 64
"""Nesting of objects and arrays in a body; Kubernetes manifests stay far below it."""


class _NonFinite:
    """What ``NaN``, ``Infinity`` and ``-Infinity`` parse to, so the walk can say where."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Duplicated(dict[str, Any]):
    """An object in which ``key`` came twice, so the walk can say where. Python keeps the
    last of the two silently; another reader (a proxy, an audit log, the CLI's YAML)
    may keep the first, and the two would disagree on what was written."""

    key: str = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    duplicated = _Duplicated(obj)
    for key, _ in pairs:
        if key in seen:
            duplicated.key = key
            break
        seen.add(key)
    return duplicated


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or an ``ApiError`` (400) saying what to fix."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad_request(
            f"the request body is not UTF-8 (byte {e.start}): send JSON encoded as UTF-8",
            "body",
        ) from None
    try:
        value = json.loads(text, parse_constant=_NonFinite, object_pairs_hook=_object)
    except RecursionError:
        raise _too_deep("body") from None
    except json.JSONDecodeError as e:
        raise bad_request(
            f"the request body is not valid JSON: {e}; send one JSON object", "body"
        ) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise bad_request(
            "the request body holds a number too long to read: write numbers of at most "
            "4300 digits",
            "body",
        ) from None
    _check_values(value)
    if not isinstance(value, dict):
        raise bad_request(
            f"the request body is a JSON {_json_type(value)}: send one JSON object", "body"
        )
    return value


# A path as a linked list (parent, key): O(1) a step, spelled out only for an error.
_Path = tuple[Any, str | int] | None


def _check_values(value: Any) -> None:
    """Walk the parsed body without recursion: depth, numbers and strings."""
    stack: list[tuple[Any, int, _Path]] = [(value, 0, None)]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(_where(path))
        if isinstance(node, _Duplicated):
            where = _where((path, node.key))
            raise bad_request(f"{where}: the key appears twice in one object: keep one", where)
        if isinstance(node, dict):
            for key, item in node.items():
                _check_text(key, path)
                stack.append((item, depth + 1, (path, key)))
        elif isinstance(node, list):
            stack.extend((item, depth + 1, (path, i)) for i, item in enumerate(node))
        elif isinstance(node, _NonFinite) or (isinstance(node, float) and not math.isfinite(node)):
            got = node.name if isinstance(node, _NonFinite) else "a number out of range"
            raise bad_request(
                f"{_where(path)}: {got} is not a finite number: JSON numbers must be finite",
                _where(path),
            )
        elif isinstance(node, str):
            _check_text(node, path)


def _check_text(text: str, path: _Path) -> None:
    # A lone surrogate ("\ud800") parses, but cannot be written out as UTF-8 again.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(
            f"{_where(path)}: a string holds a lone UTF-16 surrogate: send valid Unicode",
            _where(path),
        ) from None


def _too_deep(where: str) -> ApiError:
    return bad_request(
        f"{where}: the body nests objects and arrays more than {MAX_DEPTH} deep: flatten it",
        where,
    )


def _where(path: _Path) -> str:
    parts: list[str | int] = []
    while path is not None:
        path, key = path
        parts.append(key)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return (text or "body")[:200]


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f"{field}: {message}", field)


def body_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The body's ``metadata`` (``{}`` when absent), checked to be a mapping whose name is
    a string and whose resourceVersion, if any, is one the hub could have returned."""
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise invalid("metadata", 'must be an object, e.g. {"name": "web"}')
    name = metadata.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid("metadata.name", f"must be a string (got {_json_type(name)})")
    version = metadata.get("resourceVersion")
    if version is not None:
        if not isinstance(version, str):
            raise invalid(
                "metadata.resourceVersion", 'must be a string of digits: quote it, e.g. "42"'
            )
        if problem := check_resource_version(version):
            raise invalid("metadata.resourceVersion", problem)
    return metadata
