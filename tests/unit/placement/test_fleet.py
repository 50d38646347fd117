"""The fleet as arrays (``fleet``): topology domains, device counts and distances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeplane.api.selectors import Selector, parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.fleet import Fleet
from edgeplane.placement.model import AppView, SiteView, Snapshot, Spread
from edgeplane.placement.planner import place


@pytest.mark.parametrize(
    ("labels", "values", "of"),
    [
        (({"zone": "z2"}, {"zone": "z1"}, {}), ("z1", "z2"), [1, 0, -1]),
        (({}, {}, {}), (), [-1, -1, -1]),
        (({"zone": ""}, {}, {"zone": "z1"}), ("", "z1"), [0, -1, 1]),
        (({}, {"zone": ""}, {"zone": ""}), ("",), [-1, 0, 0]),
    ],
    ids=["by-value-without-key-last", "nobody-has-the-key", "empty-value", "only-empty-values"],
)
def test_domains(
    labels: tuple[dict[str, str], ...], values: tuple[str, ...], of: list[int]
) -> None:
    fleet = Fleet([SiteView(f"s{i}", ls) for i, ls in enumerate(labels)])
    domains = fleet.domains("zone")
    assert domains.values == values
    assert domains.of.tolist() == of
    for d in range(len(values)):  # order lists domain d's sites between its starts
        members = domains.order[domains.starts[d] : domains.starts[d + 1]].tolist()
        assert members == [i for i, x in enumerate(of) if x == d]


def test_a_site_without_the_key_is_not_counted_in_the_empty_domain() -> None:
    """Regression: a site without the spread key was put in the domain of the value ""
    (here a cordoned site's), so it counted toward minGroups."""
    sites = (
        SiteView("a", {"zone": ""}, SitePhase.CORDONED),
        SiteView("b", {}),
        SiteView("c", {"zone": "z1"}),
    )
    app = AppView("web", False, 2, spread=(Spread("zone", min_groups=2),))
    decision = place(Snapshot((app,), sites, {}, {}))["web"]
    assert decision.sites == ()
    assert "needs 2 zone domains; feasible sites are in 1" in decision.reasons


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (Selector(), [2, 0, 1]),
        (parse_selector("kind=camera"), [1, 0, 1]),
        (parse_selector("kind=gpu"), [1, 0, 0]),
        (parse_selector("kind=radar"), [0, 0, 0]),
    ],
    ids=["anything", "cameras", "gpus", "none-match"],
)
def test_devices_matching(selector: Selector, expected: list[int]) -> None:
    fleet = Fleet(
        [
            SiteView("a", {}, devices=({"kind": "camera"}, {"kind": "gpu"})),
            SiteView("b", {}),
            SiteView("c", {}, devices=({"kind": "camera"},)),
        ]
    )
    assert fleet.devices_matching(selector).tolist() == expected


def test_distances() -> None:
    fleet = Fleet(
        [
            SiteView("paris", {"hq": "yes"}, location=(48.8566, 2.3522)),
            SiteView("london", {}, location=(51.5074, -0.1278)),
            SiteView("nowhere", {}),
        ]
    )
    london, nowhere, paris = fleet.distance_km(48.8566, 2.3522).tolist()
    assert paris == pytest.approx(0.0, abs=1e-6)
    assert london == pytest.approx(344, abs=2)  # Paris to London, great circle
    assert math.isnan(nowhere)
    near = fleet.distance_to_sites(np.array([fleet.index["paris"]])).tolist()
    assert near[fleet.index["london"]] == pytest.approx(london)
    assert math.isnan(near[fleet.index["nowhere"]])
