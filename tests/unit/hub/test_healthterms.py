"""Each site's health terms from the hub's default and its SiteGroups' spec.health."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.healthterms import HealthTerms, SiteTerms


class Groups:
    """The informer's SiteGroups, as the terms read them."""

    def __init__(self, *groups: Object) -> None:
        self.version = 1
        self.groups = {g["metadata"]["name"]: g for g in groups}

    def items(self, kind: str) -> Mapping[str, Object]:
        assert kind == "SiteGroup"
        return self.groups


def group(name: str, labels: dict[str, str], **health: Any) -> Object:
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels}, "health": health or None},
    }


def site(**labels: str) -> Object:
    return {"metadata": {"name": "s", "labels": labels}}


FAST = group("fast", {"tier": "edge"}, heartbeatSeconds=1)
TOLERANT = group("tolerant", {"link": "lossy"}, suspicionThreshold=12, heartbeatSeconds=5)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, SiteTerms(10.0, 30.0, 8.0)),
        ({"tier": "edge"}, SiteTerms(1.0, 3.0, 8.0)),
        ({"link": "lossy"}, SiteTerms(5.0, 15.0, 12.0)),
        ({"tier": "edge", "link": "lossy"}, SiteTerms(1.0, 3.0, 12.0)),
    ],
    ids=["default", "fast-group", "tolerant-group", "both: shortest period, highest threshold"],
)
def test_terms_by_groups(labels: dict[str, str], expected: SiteTerms) -> None:
    terms = HealthTerms(10.0, Groups(FAST, TOLERANT, group("plain", {"tier": "edge"})))
    assert terms.of(site(**labels)) == expected


def test_a_changed_group_is_read_again() -> None:
    groups = Groups(FAST)
    terms = HealthTerms(10.0, groups)
    assert terms.of(site(tier="edge")).heartbeat_seconds == 1.0
    groups.groups["fast"] = group("fast", {"tier": "edge"}, heartbeatSeconds=2)
    assert terms.of(site(tier="edge")).heartbeat_seconds == 1.0  # nothing applied yet
    groups.version += 1
    assert terms.of(site(tier="edge")) == SiteTerms(2.0, 6.0, 8.0)


def test_without_an_informer_every_site_has_the_default() -> None:
    assert HealthTerms(2.0).of(site(tier="edge")) == SiteTerms(2.0, 6.0, 8.0)
