"""What the agent knows of each DataStream that reaches its site, from the hub's
``GET /sites/{site}/datastreams`` answer (kept on disk by ``agent.data``): read
defensively, an entry it cannot read is left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StreamTerms:
    name: str
    priority: int
    max_age: float
    max_bytes: int | None
    applications: frozenset[str]
    aggregation: Mapping[str, Any] | None = None
    mqtt_topic: str | None = None


def streams_of(answer: object) -> dict[str, StreamTerms]:
    """The streams of the hub's answer; an unreadable one counts as none."""
    items = answer.get("streams") if isinstance(answer, dict) else None
    found = {}
    for item in items if isinstance(items, list) else []:
        try:
            retention = item.get("retention") or {}
            terms = StreamTerms(
                str(item["name"]),
                int(item["priority"]),
                float(retention.get("maxAgeSeconds") or DEFAULT_MAX_AGE_SECONDS),
                int(retention["maxBytes"]) if retention.get("maxBytes") else None,
                frozenset(str(a) for a in item.get("applications") or ()),
                item["aggregation"] if isinstance(item.get("aggregation"), dict) else None,
                str(item["mqtt"]["topic"]) if isinstance(item.get("mqtt"), dict) else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        found[terms.name] = terms
    return found
