"""Reading objects as a cluster returns them, without trusting their shape (pure).

``readiness`` and ``nodes`` judge objects that anything with write access to the cluster
may have shaped: a status field of the wrong type, a number past any range, a list where
a map belongs. ``Fields`` reads dotted paths and raises ``Unreadable`` naming the path
and what it should hold, which the callers turn into a message, never a crash. Strings
are cut to ``MAX_TEXT`` and numbers bounded, so a message built from them stays small
(and a 5000-digit int is never formatted: Python refuses that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_INT = 2**63 - 1
MAX_TEXT = 256
MAX_ITEMS = 100
"""Conditions, container statuses, taints: read at most this many of each."""
MAX_DEPTH = 100
"""Nesting of a manifest (maps and lists): deep enough for any CRD's schema, and far
from Python's recursion limit, which copying and encoding a deeper one would hit."""


class Unreadable(Exception):
    """A field that does not hold what Kubernetes puts there."""

    def __init__(self, path: str, expected: str) -> None:
        super().__init__(f"{path}: {expected}")
        self.path, self.expected = path, expected


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str

    def says(self, kind: str, *, detail: bool = False) -> str:
        """``Available=False MinimumReplicasUnavailable``, with its message on ``detail``."""
        words = f"{kind}={self.status}" + (f" {self.reason}" if self.reason else "")
        return f"{words}: {self.message}" if detail and self.message else words


def text(value: Any) -> str:
    """A string cut to ``MAX_TEXT``; anything else reads as ""."""
    return value[:MAX_TEXT] if isinstance(value, str) else ""


class Fields:
    """Typed reads of one object's dotted paths."""

    def __init__(self, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            raise Unreadable("the object", "expected an object")
        self.obj = obj
        self.group, _, _ = self.text("apiVersion").rpartition("/")
        self.kind = self.text("kind")

    def get(self, path: str) -> Any:
        """The value at ``path``, None when a step is missing."""
        node: Any = self.obj
        steps = path.split(".")
        for depth, step in enumerate(steps):
            if node is None:
                return None
            if not isinstance(node, Mapping):
                raise Unreadable(".".join(steps[:depth]), "expected an object")
            node = node.get(step)
        return node

    def int(self, path: str, default: int) -> int:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise Unreadable(path, "expected a whole number from 0 to 2^63-1")
        return value

    def text(self, path: str, default: str = "") -> str:
        value = self.get(path)
        if value is None:
            return default
        if not isinstance(value, str):
            raise Unreadable(path, "expected a string")
        return value[:MAX_TEXT]

    def mapping(self, path: str) -> Mapping[str, Any]:
        value = self.get(path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise Unreadable(path, "expected a map")
        return value

    def items(self, path: str) -> list[Any]:
        """The first ``MAX_ITEMS`` of the list at ``path``."""
        value = self.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise Unreadable(path, "expected a list")
        return value[:MAX_ITEMS]

    def conditions(self) -> dict[str, Condition]:
        """``status.conditions`` by type (the first of each type)."""
        found: dict[str, Condition] = {}
        for i, item in enumerate(self.items("status.conditions")):
            kind = item.get("type") if isinstance(item, Mapping) else None
            status = item.get("status") if isinstance(item, Mapping) else None
            if not isinstance(kind, str) or not isinstance(status, str):
                raise Unreadable(f"status.conditions[{i}]", "expected type and status strings")
            reason, message = text(item.get("reason")), text(item.get("message"))
            found.setdefault(kind, Condition(status[:MAX_TEXT], reason, message))
        return found

    def true(self, kind: str) -> Condition | None:
        """The condition ``kind`` when its status is True."""
        condition = self.conditions().get(kind)
        return condition if condition is not None and condition.status == "True" else None


def too_deep(value: Any) -> bool:
    """Whether maps and lists nest past ``MAX_DEPTH`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node
        if isinstance(node, Mapping | list):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False
