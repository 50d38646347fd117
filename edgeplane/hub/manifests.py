"""Patching one Kubernetes manifest, as ``kubectl patch`` does: a strategic merge patch
or an RFC 6902 JSON patch. Pure: no I/O; the input is never modified.

Strategic merge (the subset users write, as Kubernetes defines it for the core kinds):
objects merge key by key and ``null`` deletes a key; the lists Kubernetes merges by a key
(``containers``, ``initContainers``, ``env``, ``volumes``, ``volumeMounts``, ``ports``,
``imagePullSecrets`` ...) merge item by item on that key, new items appended; every
other list is replaced. Directives: ``$patch: delete`` on a list item removes it, on an
object removes the object; ``$patch: replace`` on an object replaces it whole, and as a
list item replaces the list with the other items.

JSON patch: ``test``, ``add``, ``remove``, ``replace``, ``move``, ``copy`` over RFC 6901
pointers, all or nothing. ``copy`` is the one operation that can grow a document
faster than its patch does, so what it copies is counted against ``COPY_MAX_BYTES``.

Errors are ``PatchError``, whose ``field`` is relative to the patch (``jsonPatch[2]``).
Neighbours: ``overrides`` (which manifest each patch of an Application applies to).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

COPY_MAX_BYTES = 1024 * 1024
"""What the ``copy`` operations of one JSON patch may copy, in all."""
MAX_DEPTH = 100
"""How deep a patched manifest may nest (the agent refuses deeper ones too). A request
body nests at most 64 levels, but each ``add``, ``move`` or ``copy`` places a value
under a path: 256 of them could nest thousands deep, past what Python's recursion
(json, deepcopy, pydantic) survives."""

MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
"""Lists Kubernetes merges by a key (its ``patchMergeKey``); ``ports`` is decided by its
items (``containerPort`` in a container, ``port`` in a Service)."""

DIRECTIVE = "$patch"
_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")


class PatchError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


# -- strategic merge -------------------------------------------------------------------


def strategic_merge(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``target`` with ``patch`` merged in (a new object)."""
    merged = _merge_map(target, patch, "patch")
    if merged is None:
        raise PatchError("patch", f"{DIRECTIVE}: delete would delete the whole manifest")
    return merged


def _merge_map(target: Any, patch: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    directive = patch.get(DIRECTIVE)
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != DIRECTIVE}
    if directive == "replace":
        return copy.deepcopy(body)
    if directive is not None:
        raise PatchError(where, f"{DIRECTIVE} {directive!r}: use delete or replace")
    result = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
            continue
        merged = _merge_value(key, result.get(key), value, f"{where}.{key}")
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _merge_value(key: str, target: Any, patch: Any, where: str) -> Any:
    if isinstance(patch, Mapping):
        return _merge_map(target, patch, where)
    if isinstance(patch, list) and isinstance(target, list):
        merge_key = _merge_key(key, target, patch)
        if merge_key is not None:
            return _merge_list(target, patch, merge_key, where)
    return copy.deepcopy(patch)


def _merge_key(key: str, target: list[Any], patch: list[Any]) -> str | None:
    if key == "ports":
        items = [i for i in (*target, *patch) if isinstance(i, Mapping)]
        return "containerPort" if any("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(key)


def _merge_list(target: list[Any], patch: list[Any], key: str, where: str) -> list[Any]:
    if any(isinstance(i, Mapping) and dict(i) == {DIRECTIVE: "replace"} for i in patch):
        return [copy.deepcopy(i) for i in patch if not _is_replace(i)]
    result = copy.deepcopy(target)
    for n, item in enumerate(patch):
        if not isinstance(item, Mapping) or key not in item:
            raise PatchError(f"{where}[{n}]", f"needs its merge key {key!r} (items merge by it)")
        at = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, Mapping) and old.get(key) == item[key]
            ),
            None,
        )
        merged = _merge_map(result[at] if at is not None else {}, item, f"{where}[{n}]")
        if at is None and merged is not None:
            result.append(merged)
        elif at is not None and merged is None:
            del result[at]
        elif at is not None:
            result[at] = merged
    return result


def _is_replace(item: Any) -> bool:
    return isinstance(item, Mapping) and dict(item) == {DIRECTIVE: "replace"}


# -- JSON patch (RFC 6902) ---------------------------------------------------------------


def json_patch(document: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> Any:
    """``document`` with ``operations`` applied, all or nothing (a new object)."""
    doc: Any = copy.deepcopy(dict(document))
    copied = 0
    for n, op in enumerate(operations):
        where = f"jsonPatch[{n}]"
        try:
            doc, size = _apply(doc, op)
        except PatchError as e:
            raise PatchError(where, e.message) from None
        copied += size
        if copied > COPY_MAX_BYTES:
            raise PatchError(where, f"copies over {COPY_MAX_BYTES} bytes in all: copy less")
    return doc


def _apply(doc: Any, op: Mapping[str, Any]) -> tuple[Any, int]:
    name, path = op.get("op"), _pointer(op.get("path"), "path")
    if name == "test":
        if not json_equal(_get(doc, path), op.get("value")):
            raise PatchError("", f"test failed: {op.get('path')!r} is not the value given")
        return doc, 0
    if name == "add":
        return _add(doc, path, copy.deepcopy(op.get("value"))), 0
    if name == "remove":
        return _remove(doc, path)[0], 0
    if name == "replace":
        _get(doc, path)  # must exist
        if not path:
            return copy.deepcopy(op.get("value")), 0
        return _add(_remove(doc, path)[0], path, copy.deepcopy(op.get("value"))), 0
    source = _pointer(op.get("from"), "from")
    if name == "move":
        if path[: len(source)] == source and len(path) > len(source):
            raise PatchError("", "cannot move a value into itself: from is a prefix of path")
        doc, value = _remove(doc, source)
        return _add(doc, path, value), 0
    if name == "copy":
        value = copy.deepcopy(_get(doc, source))
        return _add(doc, path, value), len(json.dumps(value, default=str))
    raise PatchError("", f"op {name!r} is not one of add, remove, replace, move, copy, test")


def _pointer(text: Any, field: str) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError("", f"{field} {text!r} is not a JSON pointer (e.g. '/spec/replicas')")
    tokens = text.split("/")[1:]
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PatchError("", f"{field} {text!r}: write '~' as '~0' and '/' as '~1'")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not _INDEX.fullmatch(token):
        raise PatchError("", f"{token!r} is not an index of a list (0, 1, ... or '-' to add)")
    index, limit = int(token), len(container) + (1 if adding else 0)
    if index >= limit:
        raise PatchError("", f"index {index} is past the end of a list of {len(container)}")
    return index


def _parent(doc: Any, path: list[str]) -> Any:
    return _get(doc, path[:-1])


def _get(doc: Any, path: list[str]) -> Any:
    node = doc
    for depth, token in enumerate(path):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise PatchError("", f"{_show(path[: depth + 1])} does not exist")
    return node


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if len(path) + _depth(value) > MAX_DEPTH:
        raise PatchError("", f"{_show(path)} would nest over {MAX_DEPTH} levels deep: flatten it")
    if not path:
        return value
    parent, last = _parent(doc, path), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError("", f"{_show(path[:-1])} is not an object or a list")
    return doc


def _depth(value: Any) -> int:
    """How many objects and lists nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            items = node.values() if isinstance(node, dict) else node
            stack.extend((item, level + 1) for item in items if isinstance(item, dict | list))
    return deepest


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise PatchError("", "cannot remove the whole manifest")
    parent, last = _parent(doc, path), path[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, adding=False))
    raise PatchError("", f"{_show(path)} does not exist")


def _show(path: list[str]) -> str:
    return "'" + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in path) + "'"


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON has it: 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)
