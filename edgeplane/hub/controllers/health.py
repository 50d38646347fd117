"""Site health v0: a site whose agent has not sent a heartbeat for
``offline_after_seconds`` is marked Offline. Agents mark themselves Online again.

(The health issue adds failover: moving replicas of Offline sites elsewhere.)
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.health")


def seconds_since(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    try:
        return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def stale(site: Object, offline_after: float, now: float) -> bool:
    """An Online site whose last heartbeat is older than ``offline_after`` seconds."""
    status = site.get("status") or {}
    if status.get("phase") != "Online":
        return False
    age = seconds_since(status.get("lastHeartbeat"), now)
    return age is None or age > offline_after


async def mark_offline(store: Store, sites: list[Object], offline_after: float) -> list[str]:
    """Mark stale sites Offline; the names marked."""
    marked, now = [], time.time()
    for site in sites:
        if not stale(site, offline_after, now):
            continue
        status = {**(site.get("status") or {}), "phase": "Offline"}
        try:
            await store.replace_status({**site, "status": status})
        except (Conflict, NotFound):
            continue  # a heartbeat arrived meanwhile, or the site is gone
        log.warning(
            "site %s: no heartbeat for %.0f s: Offline", site["metadata"]["name"], offline_after
        )
        marked.append(site["metadata"]["name"])
    return marked
