"""Choosing the store from a URL, and the default SQLite location."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeplane.store.factory import open_store, sqlite_url


def test_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    assert sqlite_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/edgeplane.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
    ids=["sqlite", "postgresql", "postgresql-without-driver"],
)
def test_supported_urls(url: str, expected: str) -> None:
    assert open_store(url).url == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://u:secret@h/db", "sqlite:///x.db", "nonsense"],
    ids=["mysql", "sync-sqlite", "garbage"],
)
def test_unsupported_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="is not supported") as raised:
        open_store(url)
    assert "secret" not in str(raised.value)
