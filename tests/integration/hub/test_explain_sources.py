"""Where ``explain`` takes its answer from, with the hub's app in process over each store
backend: a hub that runs no placement controller (it does not lead) plans fresh and
says so; while its controller runs, the recorded decision; when it stops leading,
fresh again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin
from edgeplane.hub.controllers import run_controllers
from tests.conftest import AnyStore
from tests.integration.hub.controller_fleet import (
    add_site,
    app,
    resolve,
    site,
)
from tests.support.waiting import wait_until_async

NOT_LEADING = "this hub runs no placement controller (another hub leads): planned now"


@contextlib.asynccontextmanager
async def leading(hub: Any, store: AnyStore) -> AsyncIterator[None]:
    """This hub's controllers, as ``hub.server`` runs them while it leads."""
    stop = asyncio.Event()
    state = hub.state
    task = asyncio.create_task(
        run_controllers(
            store, resolve, 40.0, stop, informer=state.informer, record=state.placement_record
        )
    )
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_explain_is_fresh_unless_this_hub_leads(store: AnyStore, tmp_path: Path) -> None:
    for name in ("s1", "s2"):
        await add_site(store, site(name))
    await store.create(app("web", mode="Replicas", replicas=1))
    token = await bootstrap_admin(store, tmp_path)
    hub = create_app(store, HubSettings(data_dir=tmp_path))
    stop = asyncio.Event()
    informing = asyncio.create_task(hub.state.informer.run(stop))  # every hub runs it
    transport = httpx.ASGITransport(app=hub)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:

        async def explained() -> dict[str, Any]:
            answer = await c.get("/api/v1alpha1/applications/web/explain")
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found

        fresh = await explained()
        assert (fresh["source"], fresh["note"], fresh["story"]) == ("fresh", NOT_LEADING, [])
        assert fresh["wanted"] == 1 and len(fresh["sites"]) == 1
        async with leading(hub, store):
            found = await wait_until_async(explained, accept=lambda a: a["source"] == "recorded")
            assert found["sites"] == fresh["sites"] and found["generation"] == 1
            assert [e["trigger"] for e in found["story"]] == ["the controller started"]
        after = await explained()
        assert (after["source"], after["note"]) == ("fresh", NOT_LEADING)
        assert len(after["story"]) == 1  # what it recorded while it led
    stop.set()
    await informing
