"""The hub's side of failure detection: leases feed the detector (this hub's renewals at
the site's period, other hubs' no closer than they can arrive), the health check marks a
suspected site Offline in one write (``lastHeartbeat`` its last heartbeat, ``Reachable``
False saying why) and counts it, judges by the detector only what it heard since it
began watching, paces itself by the shortest period; a site that writes itself Online
again is Reachable and its return is recorded."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edgeplane.api.sites import RETURNS_MAX
from edgeplane.api.wire import Object
from edgeplane.health import liveness
from edgeplane.health.detector import Detector
from edgeplane.hub.__main__ import add_tuning_arguments, tuning
from edgeplane.hub.app import HubSettings, create_app, period_reader
from edgeplane.hub.controllers.health import Judge, check, offline_status
from edgeplane.hub.healthterms import HealthTerms, SiteTerms
from edgeplane.hub.leases import RELAYED_SECONDS, Leases
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.sitewrites import came_back, rfc3339
from edgeplane.store.memory import MemoryStore
from tests.support import builders

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PERIOD = 1.0


def one_period(_: str) -> float:
    return PERIOD


def beating(leases: Leases, site: str, first: float, last: float) -> None:
    """Renewals every ``PERIOD`` from ``first`` to ``last``, as heartbeats arrive (50
    of them: the detector has learnt the link is clean)."""
    at = first
    while at <= last + 1e-9:
        leases.renew(site, now=at)
        at += PERIOD


# -- leases feed the detector ----------------------------------------------------------


def test_every_renewal_is_a_heartbeat_for_the_detector() -> None:
    detector = Detector()
    leases = Leases("hub-1", detector, one_period)
    beating(leases, "s", NOW - 60, NOW - 10)
    leases.renew("s", now=NOW - 15.5)  # older than the newest: no arrival
    assert detector.silent_for("s", NOW) == pytest.approx(10.0)
    assert (detector.phi("s", NOW) or 0.0) >= 8.0, "10 periods of silence"
    assert (detector.phi("s", NOW - 9.5) or 0.0) < 1.0
    leases.forget("s")
    assert detector.phi("s", NOW) is None


async def test_other_hubs_renewals_are_heartbeats_no_closer_than_they_arrive() -> None:
    store, detector = MemoryStore(), Detector()
    await store.put_leases({"s": NOW - 3}, "hub-2")
    leases = Leases("hub-1", detector, one_period)
    await leases.load(store)
    assert leases.last("s") == NOW - 3
    # Three periods of silence would be suspect from this hub's own heartbeats; another
    # hub's arrive a flush and a load late, and are judged by that.
    assert RELAYED_SECONDS > 3 * PERIOD
    assert (detector.phi("s", NOW) or 0.0) < 1.0


def test_a_detector_needs_the_periods() -> None:
    with pytest.raises(ValueError, match="period_of"):
        Leases("hub-1", Detector())


class Sites:
    """The informer's Sites and SiteGroups, as the period reader and terms read them."""

    version = 1

    def __init__(self, *objs: Object) -> None:
        self.objs = {(o["kind"], o["metadata"]["name"]): o for o in objs}

    def get(self, kind: str, name: str) -> Object | None:
        return self.objs.get((kind, name))

    def items(self, kind: str) -> Mapping[str, Object]:
        return {name: o for (k, name), o in self.objs.items() if k == kind}


def test_each_site_is_expected_at_its_terms_period() -> None:
    fast: Object = {
        "kind": "SiteGroup",
        "metadata": {"name": "fast"},
        "spec": {"selector": {"matchLabels": {"tier": "edge"}}, "health": {"heartbeatSeconds": 2}},
    }
    sites = Sites(fast, builders.site("edge-1", labels={"tier": "edge"}), builders.site("dc-1"))
    period_of = period_reader(HealthTerms(10.0, sites), sites)
    assert [period_of(s) for s in ("edge-1", "dc-1", "not-cached-yet")] == [2.0, 10.0, 10.0]


# -- the check ------------------------------------------------------------------------


class Terms:
    """Every site's terms: ``PERIOD`` and a threshold of 8."""

    def of(self, site: Object) -> SiteTerms:
        return SiteTerms(PERIOD, 3.0, 8.0)


async def stored(store: MemoryStore, name: str, **status: Any) -> Object:
    created = await store.create(builders.site(name))
    return await store.replace_status({**created, "status": status})


async def test_a_suspected_site_is_marked_offline_in_one_write() -> None:
    store, detector, metrics = MemoryStore(), Detector(), HubMetrics()
    leases, now = Leases("hub-1", detector, one_period), time.time()
    ready = {"type": "Ready", "status": "True"}
    for name in ("stopped", "beating"):
        await stored(store, name, phase="Online", conditions=[ready])
    beating(leases, "stopped", now - 60, now - 10)
    beating(leases, "beating", now - 60, now)
    judge = Judge(40.0, leases.last, detector, Terms(), watched_since=now - 60)
    sites = [await store.get("Site", n) for n in ("stopped", "beating")]
    assert await check(store, sites, judge, metrics) == ["stopped"]
    status = (await store.get("Site", "stopped"))["status"]
    assert status["phase"] == "Offline"
    assert status["lastHeartbeat"] == rfc3339(leases.last("stopped") or 0.0)
    reachable = [c for c in status["conditions"] if c["type"] == "Reachable"]
    assert [(c["status"], c["reason"]) for c in reachable] == [("False", "NoHeartbeat")]
    assert reachable[0]["message"].startswith("no heartbeat for 10 s (suspicion ")
    assert reachable[0]["message"].endswith(", threshold 8)")
    assert ready in status["conditions"], "the site's other conditions are kept"
    assert (await store.get("Site", "beating"))["status"]["phase"] == "Online"
    sample = metrics.registry.get_sample_value
    counted = sample("edgeplane_sites_unreachable_total", {"reason": "suspicion"})
    assert (counted, sample("edgeplane_sites_suspected")) == (1, 1)
    assert judge.shortest_period == PERIOD


async def test_arrivals_from_before_the_hub_watched_are_not_judged_by_the_detector() -> None:
    """A restarted hub (or a new leader) loaded old renewals: their silence includes its
    own downtime, so only the hard bound, counted from when it began watching, applies."""
    store, detector = MemoryStore(), Detector()
    leases, now = Leases("hub-1", detector, one_period), time.time()
    await stored(store, "s", phase="Online")
    beating(leases, "s", now - 60, now - 10)
    judge = Judge(40.0, leases.last, detector, Terms(), watched_since=now - 5)
    assert await check(store, [await store.get("Site", "s")], judge) == []
    judge = Judge(4.0, leases.last, detector, Terms(), watched_since=now - 5)
    assert await check(store, [await store.get("Site", "s")], judge) == ["s"]
    message = (await store.get("Site", "s"))["status"]["conditions"][0]["message"]
    assert message == "no heartbeat for 10 s (the hub's limit is 4 s)"


async def test_the_hubs_own_stall_is_not_counted_as_silence() -> None:
    """The hub did not run for 3 s (its checks ran late): a clean site last heard just
    before is not suspected for it, while its silence outside the stall still counts;
    the hard bound counts all of it."""
    store, detector = MemoryStore(), Detector()
    leases, now = Leases("hub-1", detector, one_period), time.time()
    await stored(store, "s", phase="Online")
    beating(leases, "s", now - 60, now - 4)  # 4 periods of silence: suspected
    judge = Judge(40.0, leases.last, detector, Terms(), watched_since=now - 60)
    judge.stalled(now - 3.5, now - 0.5)
    assert judge.verdict(await store.get("Site", "s"), now) is None
    assert judge.suspected == 0
    later = now + 3.0  # 3.5 s heard of silence past the stall: suspected again
    why = judge.verdict(await store.get("Site", "s"), later)
    assert why is not None and why.cause is liveness.Cause.SUSPECTED
    assert why.message.startswith("no heartbeat for 7 s (suspicion "), why.message
    bounded = Judge(5.0, leases.last, detector, Terms(), watched_since=now - 60)
    bounded.stalled(now - 4.0, now + 2.0)
    why = bounded.verdict(await store.get("Site", "s"), now + 2.0)
    assert why is not None and why.cause is liveness.Cause.SILENT, why


@pytest.mark.parametrize(
    ("offline_after", "shortest", "seconds"),
    [
        (40.0, 10.0, 1.0),
        (40.0, 1.0, 0.5),
        (40.0, 0.5, 0.25),
        (40.0, None, 1.0),
        (2.0, 10.0, 0.5),
        (0.4, 10.0, 0.25),
    ],
    ids=[
        "default-period",
        "fast-group",
        "fastest-group",
        "no-site-watched",
        "short-bound",
        "bound-below-the-floor",
    ],
)
def test_checks_run_twice_a_period(
    offline_after: float, shortest: float | None, seconds: float
) -> None:
    judge = Judge(offline_after)
    judge.shortest_period = shortest
    assert judge.next_check() == seconds


def test_the_offline_mark_replaces_an_older_reachable_condition() -> None:
    old = {"type": "Reachable", "status": "True", "reason": "HeartbeatResumed"}
    why = liveness.Unreachable(liveness.Cause.SILENT, NOW - 50, 50.0, 40.0)
    written = offline_status({"phase": "Online", "conditions": [old]}, why, NOW)
    assert written["conditions"] == [
        {
            "type": "Reachable",
            "status": "False",
            "reason": "NoHeartbeat",
            "message": "no heartbeat for 50 s (the hub's limit is 40 s)",
            "lastTransitionTime": "2027-01-15T08:00:00Z",
        }
    ]
    assert (written["phase"], written["lastHeartbeat"]) == ("Offline", "2027-01-15T07:59:10Z")


# -- a site that comes back -----------------------------------------------------------


def gone(since: str = "2027-01-15T07:59:18Z") -> dict[str, Any]:
    return {
        "type": "Reachable",
        "status": "False",
        "reason": "NoHeartbeat",
        "lastTransitionTime": since,
    }


@pytest.mark.parametrize(
    ("status", "returns", "message"),
    [
        ({"phase": "Online", "conditions": [gone()]}, 1, "heard again after 42 s offline"),
        (
            {"phase": "Online", "conditions": [gone()], "returns": ["x"] * RETURNS_MAX},
            RETURNS_MAX,
            "heard again after 42 s offline",
        ),
        ({"phase": "Online", "conditions": [gone("garbage")]}, 1, "heard again"),
        ({"phase": "Offline", "conditions": [gone()]}, None, None),
        ({"phase": "Online", "conditions": [{**gone(), "status": "True"}]}, None, None),
        ({"phase": "Online"}, None, None),
    ],
    ids=[
        "back",
        "at-most-ten-returns",
        "unreadable-transition",
        "still-offline-for-its-nodes",
        "reachable-already",
        "never-unreachable",
    ],
)
def test_a_site_that_comes_back(
    status: dict[str, Any], returns: int | None, message: str | None
) -> None:
    back = came_back(status, NOW)
    if message is None:
        assert back == status
        return
    reachable = [c for c in back["conditions"] if c["type"] == "Reachable"]
    assert [(c["status"], c["reason"], c["message"]) for c in reachable] == [
        ("True", "HeartbeatResumed", message)
    ]
    assert reachable[0]["lastTransitionTime"] == "2027-01-15T08:00:00Z"
    assert len(back["returns"]) == returns
    assert back["returns"][-1] == "2027-01-15T08:00:00Z", "newest last"


# -- wiring: the flag, the settings, the app's state ------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [([], 10.0), (["--heartbeat-seconds", "0.5"], 0.5), (["--heartbeat-seconds", "300"], 300.0)],
    ids=["default", "least", "most"],
)
def test_the_heartbeat_flag(given: list[str], expected: float) -> None:
    parser = argparse.ArgumentParser()
    add_tuning_arguments(parser)
    assert tuning(parser.parse_args(given))["heartbeat_seconds"] == expected


@pytest.mark.parametrize("given", ["0.4", "301", "nan", "ten"], ids=str)
def test_a_heartbeat_flag_out_of_bounds_is_a_usage_error(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_tuning_arguments(parser)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--heartbeat-seconds", given])
    assert exited.value.code == 2
    assert "a heartbeat period is 0.5 to 300 seconds" in capsys.readouterr().err


def test_the_app_feeds_its_detector_at_the_hubs_period(tmp_path: Path) -> None:
    app = create_app(MemoryStore(), HubSettings(data_dir=tmp_path, heartbeat_seconds=2.0))
    assert app.state.health_terms.default.heartbeat_seconds == 2.0
    assert app.state.leases.detector is app.state.detector
    app.state.leases.renew("s", now=NOW)
    assert app.state.detector.silent_for("s", NOW + 1) == 1.0
