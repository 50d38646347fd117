"""Replicas at an offline site wait there until their failover is due
(``Snapshot.waiting``), then move; in a full plan and in an update alike."""

from __future__ import annotations

from edgeplane.placement.model import AppView, Snapshot
from edgeplane.placement.planner import Planner
from tests.unit.placement.test_incremental import FLEET, offline, sites_of

WEB = AppView("web", False, 1)
OTHER = AppView("other", False, 1)


def test_a_full_plan_keeps_a_waiting_replica_and_moves_one_that_is_due() -> None:
    fleet = offline(FLEET, "a1")
    current = {"web": {"a1": 1}, "other": {"a1": 1}}
    planner = Planner(
        Snapshot((WEB, OTHER), fleet, {}, current, waiting={"web": frozenset({"a1"})})
    )
    assert sites_of(planner, "web") == ("a1",)
    assert sites_of(planner, "other") != ("a1",)


def test_waiting_never_brings_a_replica_to_an_offline_site() -> None:
    planner = Planner(
        Snapshot((WEB,), offline(FLEET, "a1"), {}, {}, waiting={"web": frozenset({"a1"})})
    )
    assert sites_of(planner, "web") != ("a1",)


def test_an_update_keeps_the_replica_while_it_waits_and_moves_it_when_due() -> None:
    planner = Planner(Snapshot((WEB, OTHER), FLEET, {}, {}))
    home = sites_of(planner, "web")[0]
    fleet = offline(FLEET, home)
    waiting = {"web": frozenset({home})}
    planner.update(Snapshot((WEB, OTHER), fleet, {}, planner.running(), waiting=waiting))
    assert sites_of(planner, "web") == (home,)
    changed = planner.update(Snapshot((WEB, OTHER), fleet, {}, planner.running(), waiting={}))
    assert "web" in changed
    assert sites_of(planner, "web") not in ((home,), ())


def test_a_site_back_before_failover_keeps_its_replica() -> None:
    planner = Planner(Snapshot((WEB,), FLEET, {}, {}))
    home = sites_of(planner, "web")[0]
    waiting = {"web": frozenset({home})}
    planner.update(Snapshot((WEB,), offline(FLEET, home), {}, planner.running(), waiting=waiting))
    planner.update(Snapshot((WEB,), FLEET, {}, planner.running(), waiting={}))
    assert sites_of(planner, "web") == (home,)


def test_an_avoided_site_loses_the_instance_and_keeps_everything_else() -> None:
    planner = Planner(Snapshot((WEB, OTHER), FLEET, {}, {"web": {"a1": 1}, "other": {"a1": 1}}))
    assert sites_of(planner, "web") == ("a1",)
    avoiding = {"web": frozenset({"a1"})}
    changed = planner.update(
        Snapshot((WEB, OTHER), FLEET, {}, planner.running(), avoiding=avoiding)
    )
    assert changed == {"web"}
    assert sites_of(planner, "web") not in (("a1",), ())
    assert sites_of(planner, "other") == ("a1",)
    assert "unhealthy" in " ".join(
        Planner(Snapshot((WEB,), FLEET[:1], {}, {}, avoiding=avoiding)).decisions["web"].reasons
    )
