"""The store: versioned objects, a resumable event log for watches, and credentials.

What belongs here: the ``Store`` protocol, its errors, and its backends (SQLAlchemy
Core over SQLite or PostgreSQL, plus an in-memory fake for unit tests), the schema
and its Alembic migrations. Objects cross this boundary as plain JSON-shaped dicts;
validation against the resource models happens in the hub before anything is written.

What does not: HTTP, authentication decisions, or resource semantics beyond
``metadata`` bookkeeping (resourceVersion, generation, uid, creationTimestamp).
"""

from edgeplane.store.errors import AlreadyExists, Conflict, Gone, NotFound, StoreError
from edgeplane.store.protocol import EventType, ListResult, Store, TokenRecord, WatchEvent

__all__ = [
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Gone",
    "ListResult",
    "NotFound",
    "Store",
    "StoreError",
    "TokenRecord",
    "WatchEvent",
]
