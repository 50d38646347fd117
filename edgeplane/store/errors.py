"""Errors a store raises; backends wrap driver errors in these with ``raise ... from``."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store error."""


class NotFound(StoreError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'{kind} "{name}" not found')
        self.kind, self.name = kind, name


class AlreadyExists(StoreError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'{kind} "{name}" already exists')
        self.kind, self.name = kind, name


class Conflict(StoreError):
    """The write carried a resourceVersion that is no longer current."""

    def __init__(self, kind: str, name: str, given: str, current: str) -> None:
        super().__init__(
            f'{kind} "{name}" was modified: metadata.resourceVersion {given} is stale, '
            f"the current one is {current}; get the latest version and apply your change to it"
        )
        self.kind, self.name, self.given, self.current = kind, name, given, current


class Gone(StoreError):
    """A watch asked for a resourceVersion that the event log no longer retains."""

    def __init__(self, requested: int, oldest: int, *, reason: str | None = None) -> None:
        reason = reason or (
            f"resourceVersion {requested} is too old: the event log starts after {oldest}"
        )
        super().__init__(f"{reason}; list again and watch from the list's resourceVersion")
        self.requested, self.oldest = requested, oldest
