"""JSON on the wire, for the hub's hot paths: answers with objects, NDJSON watch lines.

orjson through ``store.codec.dumps``, which writes what the standard library writes
wherever orjson would differ or refuse (integers beyond 64 bits, such as a manifest's
``2**70``, are kept exactly). Compact, UTF-8, keys in their order.

Neighbours: ``resources.ObjectResponse`` renders answers with ``dumps``; the watch and
stream routes write lines with ``line``.
"""

from __future__ import annotations

from typing import Any

from edgeplane.store.codec import dumps

__all__ = ["dumps", "line"]


def line(event_type: str, obj: Any) -> bytes:
    """One NDJSON watch line: ``{"type": ..., "object": ...}`` and a newline."""
    return dumps({"type": event_type, "object": obj}) + b"\n"
