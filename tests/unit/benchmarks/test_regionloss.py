"""benchmarks/support/regionloss: the tally of Assignments by region and phase."""

from __future__ import annotations

from typing import Any

from benchmarks.support.regionloss import spread_app, tally


def assignment(site: str, phase: str | None) -> dict[str, Any]:
    return {"spec": {"site": site}, "status": {"phase": phase} if phase else None}


def test_tally_counts_where_and_what() -> None:
    items = [
        assignment("ra-00001", "Running"),
        assignment("ra-00002", "Starting"),
        assignment("rb-00001", "Running"),
        assignment("rb-00002", None),
    ]
    assert tally(items) == {"at_lost": 2, "elsewhere": 2, "running": 2, "running_elsewhere": 1}


def test_a_site_named_like_the_region_elsewhere_is_not_lost() -> None:
    assert tally([assignment("rab-00001", "Running")])["at_lost"] == 0


def test_the_spread_app_spreads_over_regions_at_every_site() -> None:
    placement = spread_app("spread-0", 50)["spec"]["placement"]
    assert placement == {
        "mode": "Replicas",
        "replicas": 50,
        "spread": [{"topologyKey": "region", "maxSkew": 1}],
    }
