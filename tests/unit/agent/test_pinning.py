"""Join tokens that pin the hub's CA: parsed strictly, read from a file or the
environment (never argv), and a CA that is not the pinned one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeplane.agent.errors import JoinError
from edgeplane.agent.pinning import (
    JOIN_TOKEN_ENV,
    fetch_pinned_ca,
    read_join_token,
    split_join_token,
)

PIN = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ep_abc123_s3cr-t_x", ("ep_abc123_s3cr-t_x", None)),
        (f"ep_abc123_secret@{PIN}", ("ep_abc123_secret", PIN)),
        (f"  ep_abc123_secret@{PIN}\n", ("ep_abc123_secret", PIN)),
    ],
    ids=["unpinned", "pinned", "surrounding-space"],
)
def test_join_tokens_split_into_secret_and_pin(text: str, expected: tuple[str, str]) -> None:
    assert split_join_token(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"ep_abc_secret@{PIN}x",
        "ep_abc_secret@sha256:" + "AB" * 32,
        f"ep_abc_sec ret@{PIN}",
        "ep_abc_secret@md5:00",
        "xx_abc_secret",
        "ep_abc_secret\n\nmore",
    ],
    ids=["long-pin", "upper-hex", "space", "other-hash", "prefix", "two-lines"],
)
def test_malformed_join_tokens_are_refused(text: str) -> None:
    with pytest.raises(JoinError, match="malformed"):
        split_join_token(text)


def test_token_from_env_is_taken_out_of_the_environment() -> None:
    environ = {JOIN_TOKEN_ENV: "ep_a_b\n", "OTHER": "1"}
    assert read_join_token(None, environ) == "ep_a_b"
    assert environ == {"OTHER": "1"}


def test_token_file_wins_and_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("ep_file_token\n")
    environ = {JOIN_TOKEN_ENV: "ep_env_token"}
    assert read_join_token(path, environ) == "ep_file_token"
    assert environ == {}
    path.write_text("x" * 5000)
    with pytest.raises(JoinError, match="not a join token"):
        read_join_token(path, {})
    with pytest.raises(JoinError, match="absent"):
        read_join_token(tmp_path / "absent", {})


async def test_a_pin_over_plain_http_is_refused_before_any_connection() -> None:
    with pytest.raises(JoinError, match="not https"):
        await fetch_pinned_ca("http://127.0.0.1:1", PIN)
