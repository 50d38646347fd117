"""What the dashboard's pages work out from wire objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from edgeplane.api.wire import Object
from edgeplane.web import views
from edgeplane.web.live import frame
from edgeplane.web.views import FilterError, SiteFilter


def site(name: str, phase: Any = "Online", **labels: str) -> Object:
    status = {} if phase is None else {"phase": phase}
    return cast(Object, {"metadata": {"name": name, "labels": labels}, "status": status})


@pytest.mark.parametrize(
    ("phase", "shown"),
    [
        ("Online", "Online"),
        (None, "Pending"),
        ("x y", "Unknown"),
        (7, "Unknown"),
        ("a" * 40, "Unknown"),
    ],
    ids=["phase", "not-joined", "space", "number", "too-long"],
)
def test_a_phase_is_safe_to_use_as_a_class(phase: Any, shown: str) -> None:
    assert views.phase_of(site("s", phase)) == shown


SITES = [
    site("lyon", "Online", region="eu-west", tier="edge"),
    site("paris", "Offline", region="eu-west", tier="cloud"),
    site("boston", "Online", region="us-east", tier="edge"),
]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["lyon", "paris", "boston"]),
        ({"selector": "tier=edge"}, ["lyon", "boston"]),
        ({"phase": "Offline"}, ["paris"]),
        ({"region": "eu-west", "phase": "Online"}, ["lyon"]),
        ({"name": "OS"}, ["boston"]),
        ({"selector": "tier in (cloud),region=eu-west"}, ["paris"]),
    ],
    ids=["all", "selector", "phase", "region-and-phase", "name-any-case", "set-selector"],
)
def test_site_filters(params: dict[str, str], names: list[str]) -> None:
    found = SiteFilter.of(params).apply(SITES)
    assert [views.name_of(s) for s in found] == names


@pytest.mark.parametrize(
    ("params", "field"),
    [({"selector": "a in (b"}, "selector"), ({"phase": "Gone"}, "phase")],
    ids=["selector", "phase"],
)
def test_bad_filters_name_their_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(FilterError) as caught:
        SiteFilter.of(params)
    assert caught.value.field == field and str(caught.value).startswith(field)


@pytest.mark.parametrize(
    ("count", "number", "shown", "pages"),
    [(0, 1, 0, 1), (120, 1, 50, 3), (120, 3, 20, 3), (120, 9, 20, 3)],
    ids=["empty", "first", "last", "past-the-end"],
)
def test_pages(count: int, number: int, shown: int, pages: int) -> None:
    page = views.page_of(list(range(count)), number)
    assert (len(page.items), page.pages, page.total) == (shown, pages, count)


@pytest.mark.parametrize("text", ["0", "x", "1e3", "\uff19", "1234567"], ids=repr)
def test_page_numbers_are_ascii_digits(text: str) -> None:
    if text == "0":
        assert views.page_number(text) == 1
        return
    with pytest.raises(FilterError):
        views.page_number(text)


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [
        ("2026-01-01T11:59:50Z", "10s"),
        ("2026-01-01T11:50:00Z", "10m"),
        ("2025-12-30T12:00:00Z", "2d"),
        (None, "never"),
        ("yesterday", "?"),
    ],
    ids=["seconds", "minutes", "days", "none", "garbage"],
)
def test_ages(stamp: Any, shown: str) -> None:
    assert views.age(stamp, NOW) == shown


def test_explain_reasons_become_a_histogram_most_sites_first() -> None:
    reasons = [
        "3 site(s) had untolerated taint",
        "40 site(s) had too little memory left (need 512Mi)",
        "no site group matched",
    ]
    assert views.reason_histogram(reasons) == [
        ("had too little memory left (need 512Mi)", 40),
        ("had untolerated taint", 3),
        ("no site group matched", 1),
    ]


def test_stream_totals_sum_the_sites_reports() -> None:
    def reporting(n: int, backlog: int, rate: float) -> Object:
        streams = [{"name": "telemetry", "backlogRecords": backlog, "rateRecordsPerSecond": rate}]
        return cast(
            Object, {"metadata": {"name": f"s{n}"}, "status": {"data": {"streams": streams}}}
        )

    totals = views.stream_totals([reporting(1, 10, 1.5), reporting(2, 5, 0.5), site("quiet")])
    assert totals["telemetry"]["sites"] == 2
    assert totals["telemetry"]["backlogRecords"] == 15 and totals["telemetry"]["rate"] == 2.0


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("excluded by policy pii-stays-in-eu", True),
        ("excluded by policy pii-stays-in-eu-2", False),
        ("policy xpii-stays-in-eu", False),
        (None, False),
    ],
    ids=["whole-name", "longer-name", "prefixed", "none"],
)
def test_a_policy_is_mentioned_only_by_its_whole_name(text: Any, found: bool) -> None:
    assert views.mentions(text, "pii-stays-in-eu") is found


def test_an_sse_frame_prefixes_every_line() -> None:
    assert frame("summary", "<ul>\n<li>1</li>\n</ul>") == (
        "event: summary\ndata: <ul>\ndata: <li>1</li>\ndata: </ul>\n\n"
    )
