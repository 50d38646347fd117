"""JSON of stored objects and events: orjson on the hot path, the standard library where
orjson would answer differently.

orjson is several times faster than ``json`` but differs at the edges, and the store must
not change what it keeps:

* it refuses integers beyond 64 bits (a Kubernetes manifest may hold ``2**70``), dict
  keys that are not strings and lone surrogates: ``dumps`` then writes what ``json``
  writes, so such objects are stored exactly as before;
* it reads an integer beyond 64 bits as a float, silently: ``loads`` hands any text
  holding a run of 19 digits (the shortest such integer, ``-9223372036854775809``, has
  19) to ``json``, which keeps it an int. A false alarm (a long digit string inside a
  string) only costs the slower read;
* it refuses some text ``json`` reads (lone surrogate escapes): ``json`` reads it then.

``loads_object`` is where stored bodies become wire ``Object``s again: they were
validated before they were stored.

Neighbours: ``sql`` and ``eventlog`` store and read bodies with it; ``hub.wire`` uses
``dumps`` for the hub's answers and watch lines.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

import orjson

from edgeplane.api.wire import Object

_LONG_TEXT = re.compile(r"[0-9]{19}")
_LONG_BYTES = re.compile(rb"[0-9]{19}")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``, keys in their order (no sorting)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # What orjson refuses and json takes (big integers, int keys): keep json's answer,
        # and its error for what neither takes.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_text(value: Any) -> str:
    """``dumps`` as text, for a TEXT column (pure ASCII escapes kept for surrogates)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # ensure_ascii: a lone surrogate is stored as its \\u escape, as before orjson.
        return json.dumps(value, separators=(",", ":"))


def loads(raw: str | bytes) -> Any:
    """The value of a JSON text written by ``dumps`` or ``dumps_text``."""
    if isinstance(raw, str):
        long = _LONG_TEXT.search(raw) is not None
    else:
        long = _LONG_BYTES.search(raw) is not None
    if long:
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def loads_object(raw: str | bytes) -> Object:
    """A stored object's body read back: the store keeps only validated objects."""
    return cast(Object, loads(raw))
