"""Continue tokens: round trip, and refusal of anything the store did not issue."""

from __future__ import annotations

import base64
import json

import pytest

from edgeplane.store.continuation import ContinueTokens

TOKENS = ContinueTokens(b"k" * 32)


@pytest.mark.parametrize(
    ("after", "rv"),
    [("a", 1), ("site-00042", 123456789), ("x.y-z", 0), ("ünïcode", 7)],
    ids=["short", "large-rv", "dns-chars", "unicode"],
)
def test_round_trip(after: str, rv: int) -> None:
    token = TOKENS.encode("Site", after, rv)
    assert "=" not in token and "/" not in token and "+" not in token
    assert TOKENS.decode(token, "Site") == (after, rv)


def _b64(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def _forged_rv() -> str:
    """A real token with its version raised: the signature no longer fits."""
    mac = TOKENS.encode("Site", "a", 5).partition(".")[2]
    return f"{_b64({'k': 'Site', 'after': 'a', 'rv': 10**12})}.{mac}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "e30",
        "WzFd",
        "eyJhZnRlciI6ImEiLCJydiI6MX0",  # the unsigned tokens of earlier hubs
        _b64({"k": "Site", "after": "a", "rv": 1}) + ".AAAAAAAAAAAAAAAAAAAAAA",
        _forged_rv(),
        ContinueTokens(b"o" * 32).encode("Site", "a", 1),
        TOKENS.encode("Site", "a", 1) + "x",
        "٣." + TOKENS.encode("Site", "a", 1).partition(".")[2],
    ],
    ids=[
        "empty",
        "not-base64",
        "no-fields",
        "a-list",
        "unsigned",
        "zero-mac",
        "raised-version",
        "another-store",
        "mac-extended",
        "unicode-payload",
    ],
)
def test_foreign_tokens_are_refused_with_advice(token: str) -> None:
    with pytest.raises(ValueError, match="start the list again without continue"):
        TOKENS.decode(token, "Site")


def test_a_token_does_not_carry_over_to_another_kind() -> None:
    with pytest.raises(ValueError, match="belongs to a list of Site, not of Assignment"):
        TOKENS.decode(TOKENS.encode("Site", "a", 1), "Assignment")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ContinueTokens(b"short")
