"""The agent's assignment sync against the hub's real API and store (in process):
when the stored resourceVersion is gone from the hub's event log, it lists again.

(Resuming a watch from the stored version is exercised with real processes in
``test_agent_flow``: ASGITransport delivers a response only once it is complete.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edgeplane.agent.hublink import HubLink
from edgeplane.agent.state import LocalState
from edgeplane.agent.sync import AssignmentSync
from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin, mint
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore
from tests.support.builders import assignment
from tests.support.waiting import wait_until_async


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05, event_retention=1)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def link(store: SqlStore, tmp_path: Path) -> AsyncIterator[HubLink]:
    await bootstrap_admin(store, tmp_path)
    credential, record = mint("a", "site")
    await store.put_token(record)
    app = create_app(store, HubSettings(data_dir=tmp_path, bookmark_seconds=0.2))
    link = HubLink("http://hub", credential, transport=httpx.ASGITransport(app=app))
    yield link
    await link.close()


async def test_a_gone_version_lists_again(
    store: SqlStore, link: HubLink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = LocalState(tmp_path / "agent" / "state.db")
    state.replace_assignments([assignment("old", "a")], "1")  # what it held before a long sleep
    for name in ("web", "api"):
        await store.create(assignment(name, "a"))
    await store.create(assignment("web", "b"))
    await store.compact()
    assert await store.compacted_resource_version() > 1
    caplog.set_level(logging.INFO, logger="edgeplane.agent.sync")
    changed = asyncio.Event()
    task = asyncio.create_task(AssignmentSync(link, state, "a", changed).run())
    try:
        await wait_until_async(lambda: set(state.assignments()) == {"web.a", "api.a"}, "the relist")
        assert int(state.resource_version() or 0) >= await store.compacted_resource_version()
        assert changed.is_set()
        assert "listing assignments again" in caplog.text
    finally:
        # Stopped before the fixtures close the hub's store under it: a watch left
        # running then waited on a closed database for ever, and the loop's teardown hung.
        task.cancel()
        await asyncio.wait([task], timeout=10)
        state.close()
    assert task.cancelled(), "the sync must end when it is cancelled"
