"""Readings: an agent's ``status.metrics`` read leniently, and the sites' averages
combined by their samples, as if every instance had reported to one place."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.scaling import Reading, combine, site_readings


@pytest.mark.parametrize(
    ("per_site", "expected"),
    [
        ([[Reading("cpu", 50, 2)]], {"cpu": Reading("cpu", 50, 2, 1)}),
        (
            [[Reading("cpu", 90, 1)], [Reading("cpu", 30, 3)]],
            {"cpu": Reading("cpu", 45, 4, 2)},
        ),
        (
            [[Reading("cpu", 90, 1), Reading("rps", 10, 1)], [Reading("rps", 20, 1)]],
            {"cpu": Reading("cpu", 90, 1, 1), "rps": Reading("rps", 15, 2, 2)},
        ),
        ([[Reading("cpu", 90, 0)], [Reading("cpu", 30, 3)]], {"cpu": Reading("cpu", 30, 3, 1)}),
        ([[Reading("cpu", float("nan"), 2)]], {}),
        ([[Reading("cpu", 10, 1), Reading("cpu", 40, 2)]], {"cpu": Reading("cpu", 30, 3, 1)}),
        ([], {}),
    ],
    ids=[
        "one-site",
        "weighted-by-samples-not-sites",
        "metrics-apart",
        "no-samples-no-weight",
        "not-a-number-left-out",
        "reported-twice-one-site",
        "no-sites",
    ],
)
def test_combine(per_site: list[list[Reading]], expected: dict[str, Reading]) -> None:
    assert combine(per_site) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"metrics": [{"name": "cpu", "value": 42.5, "samples": 3}]},
            (Reading("cpu", 42.5, 3),),
        ),
        ({"metrics": [{"name": "rps", "value": 7, "samples": 0}]}, (Reading("rps", 7.0, 0),)),
        (
            {
                "metrics": [
                    {"name": "cpu", "value": "42", "samples": 3},
                    {"name": "cpu", "value": True, "samples": 3},
                    {"name": "cpu", "value": float("inf"), "samples": 3},
                    {"name": "cpu", "value": 1, "samples": -1},
                    {"name": "cpu", "value": 1, "samples": 1.5},
                    {"name": 5, "value": 1, "samples": 1},
                    "cpu",
                    {"name": "rps", "value": 3, "samples": 1},
                ]
            },
            (Reading("rps", 3.0, 1),),
        ),
        ({"metrics": "cpu"}, ()),
        ({"phase": "Running"}, ()),
        (None, ()),
    ],
    ids=[
        "one",
        "no-samples-kept",
        "bad-entries-left-out",
        "not-a-list",
        "none-reported",
        "no-status",
    ],
)
def test_site_readings(status: dict[str, Any] | None, expected: tuple[Reading, ...]) -> None:
    assert site_readings(status) == expected
