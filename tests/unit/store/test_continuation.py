"""Continue tokens: round trip, and refusal of anything the store did not issue."""

from __future__ import annotations

import pytest

from edgeplane.store.continuation import decode_continue, encode_continue


@pytest.mark.parametrize(
    ("after", "rv"),
    [("a", 1), ("site-00042", 123456789), ("x.y-z", 0), ("ünïcode", 7)],
    ids=["short", "large-rv", "dns-chars", "unicode"],
)
def test_round_trip(after: str, rv: int) -> None:
    token = encode_continue(after, rv)
    assert "=" not in token and "/" not in token and "+" not in token
    assert decode_continue(token) == (after, rv)


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "e30", "WzFd", "eyJhZnRlciI6MSwicnYiOjJ9", "eyJhZnRlciI6ImEiLCJydiI6dHJ1ZX0"],
    ids=["empty", "not-base64", "no-fields", "a-list", "after-not-str", "rv-bool"],
)
def test_foreign_tokens_are_refused_with_advice(token: str) -> None:
    with pytest.raises(ValueError, match="start the list again without continue"):
        decode_continue(token)
