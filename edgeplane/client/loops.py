"""The blocking client's loop chores (``hub.HubClient``): the next event of a watch,
ending what Ctrl-C interrupted, closing a watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from edgeplane.api.wire import WatchEvent


async def next_event(events: AsyncGenerator[WatchEvent, None]) -> WatchEvent:
    return await anext(events)


async def end_others() -> None:
    """Cancel every other task of the running loop (a call that Ctrl-C interrupted)
    and return once they have ended."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def closed(events: AsyncGenerator[WatchEvent, None]) -> None:
    await end_others()  # a read that Ctrl-C cut short, if any, first
    await events.aclose()
