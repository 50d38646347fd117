"""Admission ``Warning`` headers: any warning text gives a header h11 sends and httpx
reads back, bounded in size."""

from __future__ import annotations

import h11
import httpx
import pytest

from edgeplane.client.hub import warnings_of
from edgeplane.hub.warning_headers import MAX_WARNINGS_CHARS, warning_header


def sent_and_read(warnings: list[str]) -> list[str]:
    """The header as h11 puts it on the wire (raising on what it refuses), read by the
    client as the CLI does."""
    headers = [(k.encode(), v.encode("latin-1")) for k, v in warning_header(warnings).items()]
    h11.Response(status_code=200, headers=headers)  # h11's own validation
    response = httpx.Response(200, headers=headers)
    return warnings_of(response)


@pytest.mark.parametrize(
    ("warning", "read"),
    [
        ("plain", "plain"),
        ('quote " and \\ back', 'quote " and \\ back'),
        ("cr\r\nlf", "cr\\r\\nlf"),
        ("esc\x1b]52;c;aGk=\x07", "esc\\x1b]52;c;aGk=\\x07"),
        ("snow \u2603 z\u00fcrich", "snow \u2603 z\u00fcrich"),
        ("c1\x9b", "c1\\x9b"),
    ],
    ids=["plain", "quoted-pair", "crlf", "osc52", "utf-8", "c1"],
)
def test_any_warning_is_sent_and_read_back(warning: str, read: str) -> None:
    assert sent_and_read([warning]) == [read]


def test_warnings_are_bounded() -> None:
    read = sent_and_read(["x" * 10_000] + ["y" * 400] * 50)
    assert len(read[0]) == 512 and read[0].endswith("...")
    assert read[-1].endswith("more warnings not shown")
    assert len(warning_header(["y" * 400] * 50)["Warning"]) <= MAX_WARNINGS_CHARS + 100


def test_no_warnings_no_header() -> None:
    assert warning_header([]) == {}
