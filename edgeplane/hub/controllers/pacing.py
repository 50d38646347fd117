"""How the controllers' loops wait: between passes, and after a failed one."""

from __future__ import annotations

import asyncio
import contextlib

RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


def retry_delay(failures: int) -> float:
    """Capped exponential: a store that is down is not hammered, one that blinked is
    back in half a second."""
    return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** min(failures - 1, 16))


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until the hub stops, whichever comes first.

    ``asyncio.timeout``, never ``asyncio.wait_for``, here and wherever a loop waits:
    Python 3.11's ``wait_for`` drops a cancellation that arrives in the same loop turn
    as what it waits for, and the cancelled loop runs on (a hub then ignored SIGTERM)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
