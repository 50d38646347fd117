"""Choosing a backend from a URL; the hub's default is SQLite in its data dir."""

from __future__ import annotations

from pathlib import Path

from edgeplane.store.sql import SqlStore

SQLITE_FILE = "edgeplane.db"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def open_store(url: str, **options: float | int) -> SqlStore:
    """A store for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs (not opened yet)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ValueError(
            f"database URL {url.split('@')[-1]!r} is not supported: use "
            "postgresql+asyncpg://user@host/db (or leave it out for SQLite in the data dir)"
        )
    return SqlStore(url, **options)  # type: ignore[arg-type]
