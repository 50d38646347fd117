"""Windows: whether a site may be updated now, from its maintenance windows.

A site's windows are its own plus those of every SiteGroup it matches (the hub gathers
them, as ``maintenanceWindows`` wire dicts). No window at all is always open; otherwise
the site is open while some window is, and ``opens_at`` says when the next one opens
(None: open now, or none within ``api.schedules.NEXT_OPEN_HORIZON``). Cron parsing lives
in ``api.schedules``; parsed windows are cached, since thousands of sites share a few.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from edgeplane.api.schedules import Window


def window_state(windows: Sequence[Mapping[str, Any]], now: float) -> tuple[bool, float | None]:
    """(open now, when the next window opens if closed). A window the API would have
    refused is ignored: it must not hold a site back forever, nor stop the rollout."""
    parsed = [window for raw in windows if (window := _window(raw)) is not None]
    if not parsed:
        return True, None
    opens = [_next_open(window, now) for window in parsed]
    if now in opens:
        return True, None
    return False, min((at for at in opens if at is not None), default=None)


def _window(raw: Mapping[str, Any]) -> Window | None:
    try:
        return _parsed(
            str(raw.get("schedule", "")),
            int(raw.get("durationMinutes", 0)),
            str(raw.get("timeZone") or "UTC"),
        )
    except (ValueError, TypeError):
        return None


@lru_cache(maxsize=4096)
def _parsed(schedule: str, duration_minutes: int, time_zone: str) -> Window:
    return Window.parse(schedule, duration_minutes, time_zone)


@lru_cache(maxsize=16384)
def _next_open(window: Window, now: float) -> float | None:
    # every site of a pass asks at the same ``now``: shared windows are computed once
    return window.next_open(now)
