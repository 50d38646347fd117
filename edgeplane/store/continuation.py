"""Opaque ``continue`` tokens of paginated lists, shared by every backend.

A token carries the last name of the page and the resourceVersion of the first page,
so every page of one list reports the same version. Tokens are url-safe base64 JSON;
anything else is refused with a ValueError that says what to do instead.
"""

from __future__ import annotations

import base64
import binascii
import json


def encode_continue(after: str, resource_version: int) -> str:
    raw = json.dumps({"after": after, "rv": resource_version}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, int]:
    """``(last name of the previous page, list resourceVersion)``; ValueError if not ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, rv = raw["after"], raw["rv"]
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise ValueError(_refusal(token)) from e
    if not isinstance(after, str) or not isinstance(rv, int) or isinstance(rv, bool):
        raise ValueError(_refusal(token))
    return after, rv


def _refusal(token: str) -> str:
    return (
        f"continue token {token[:20]!r} is not one this hub issued: pass the previous "
        "page's metadata.continue unchanged, or start the list again without continue"
    )
