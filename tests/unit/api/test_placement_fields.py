"""``spec.placement.maxPerSite``: accepted with ``division: Divided``, refused with the
field and the fix everywhere else (Duplicated, the default, and EverySite run one per
site), and read into placement's view."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from edgeplane.placement.views import app_view
from tests.support.builders import changed, good

P = "spec.placement"


def application(placement: dict[str, Any]) -> dict[str, Any]:
    return changed(good("Application"), P, placement)


@pytest.mark.parametrize(
    ("placement", "field", "words"),
    [
        (
            {"mode": "Replicas", "replicas": 4, "division": "Duplicated", "maxPerSite": 2},
            P,
            "placement.maxPerSite caps divided replicas; division Duplicated runs one per "
            "site: set placement.division: Divided, or remove placement.maxPerSite",
        ),
        (
            {"mode": "Replicas", "replicas": 4, "maxPerSite": 2},
            P,
            "set placement.division: Divided, or remove placement.maxPerSite",
        ),
        (
            {"mode": "EverySite", "maxPerSite": 1},
            P,
            "mode EverySite runs one per site: remove placement.maxPerSite",
        ),
        (
            {"mode": "Replicas", "replicas": 4, "division": "Divided", "maxPerSite": 0},
            f"{P}.maxPerSite",
            "greater than or equal to 1",
        ),
        (
            {"mode": "Replicas", "replicas": 4, "division": "Divided", "maxPerSite": "2"},
            f"{P}.maxPerSite",
            "valid integer",
        ),
    ],
    ids=["duplicated", "duplicated-by-default", "every-site", "zero", "text"],
)
def test_max_per_site_is_refused_outside_divided(
    placement: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(application(placement))
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


def test_max_per_site_with_divided_round_trips_and_reaches_placement() -> None:
    placement = {
        "mode": "Replicas",
        "replicas": 12,
        "division": "Divided",
        "siteGroups": ["edge", "cloud"],
        "maxPerSite": 3,
    }
    wire = to_wire(validate_object(application(placement)))
    assert wire["spec"]["placement"] == placement
    assert app_view(wire).max_per_site == 3
    del wire["spec"]["placement"]["maxPerSite"]
    assert app_view(wire).max_per_site is None
