"""What the SQL tables' mixins (tokens, leases, leader lease, relay) need of the store
they are mixed into: its engine and its dialect. ``SqlStore`` provides both."""

from __future__ import annotations

import abc

from sqlalchemy.ext.asyncio import AsyncEngine


class EngineBound(abc.ABC):
    @property
    @abc.abstractmethod
    def engine(self) -> AsyncEngine:
        """The open engine (``StoreError`` before ``open``)."""

    @property
    @abc.abstractmethod
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (else PostgreSQL)."""
