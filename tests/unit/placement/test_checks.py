"""The feasibility checks (``checks``) at one site, table by table: each check's verdict
(its vector rule asked about a one-site fleet), and ``first_reason_at`` reporting the
first that fails in the stack's order."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from edgeplane.api.selectors import Selector, parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement import checks
from edgeplane.placement.context import Caches, Context, Scope
from edgeplane.placement.filtering import first_reason_at, verdicts_at
from edgeplane.placement.fleet import Fleet
from edgeplane.placement.model import (
    AppView,
    DeviceNeed,
    Locality,
    SiteView,
    TaintView,
    TolerationView,
)
from edgeplane.placement.reasons import Reasons
from tests.unit.placement.governed import Governed


@dataclass(frozen=True)
class Room:
    """What is left of the site's capacity for the application (None: not limited)."""

    cpu: float | None
    memory: float | None


class Verdict(Governed):
    """The same policy verdict for every label set."""

    def __init__(self, verdict: tuple[str | None, bool]) -> None:
        self.verdict = verdict

    def key(self, app: AppView) -> Hashable:
        return self.verdict

    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> Sequence[tuple[str | None, bool]]:
        return [self.verdict] * len(label_sets)


SITE = SiteView("s", {"region": "eu", "tier": "edge"}, SitePhase.ONLINE, cpu_millis=1000)
GROUPS = {"eu": parse_selector("region=eu"), "us": parse_selector("region=us")}
FREE = Room(None, None)


def replicas(**fields: Any) -> AppView:
    return AppView("a", False, 1, **fields)


def every_site(**fields: Any) -> AppView:
    return AppView("a", True, **fields)


def trial(
    app: AppView,
    site: SiteView = SITE,
    room: Room = FREE,
    held: bool = False,
    policy: tuple[str | None, bool] = (None, False),
    distance_km: float | None = None,
) -> Context:
    """The application's turn in a fleet of one site."""
    scope = Scope(Fleet([site]), GROUPS, Verdict(policy), Caches(), Reasons())
    if app.locality is not None:  # the distance as given, not from a location
        far = math.nan if distance_km is None else distance_km
        scope.caches.put("locality", app.locality, np.array([far]))
    left = [math.inf if r is None else float(r) for r in (room.cpu, room.memory)]
    return Context(app, scope, np.array([held]), (np.array([left[0]]), np.array([left[1]])))


def answer(name: str, t: Context) -> str | None:
    """One check's verdict at the site."""
    return dict(verdicts_at(t, 0))[name]


def site(**fields: Any) -> SiteView:
    return replace(SiteView("s", {"region": "eu"}, SitePhase.ONLINE), **fields)


# -- selector and siteGroups ------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (replicas(), None),
        (replicas(selector=parse_selector("region=eu")), None),
        (replicas(selector=parse_selector("region=us")), "did not match the selector"),
        (replicas(selector=parse_selector("gpu")), "did not match the selector"),
        (replicas(site_groups=("eu",)), None),
        (replicas(site_groups=("us", "eu")), None),
        (replicas(site_groups=("us",)), "are in none of the siteGroups"),
        (replicas(site_groups=("eu", "mars")), "siteGroup mars does not exist"),
    ],
    ids=[
        "no-selector",
        "selector-matches",
        "selector-differs",
        "selector-missing-key",
        "in-group",
        "in-second-group",
        "in-no-group",
        "group-missing",
    ],
)
def test_label_checks(app: AppView, expected: str | None) -> None:
    t = trial(app)
    assert (answer("selector", t) or answer("siteGroups", t)) == expected


# -- phase ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "where", "held", "expected"),
    [
        (replicas(), site(phase=SitePhase.ONLINE), False, None),
        (replicas(), site(phase=SitePhase.PENDING), False, checks.OFFLINE),
        (replicas(), site(phase=None), False, None),
        (replicas(), site(phase=SitePhase.CORDONED), False, checks.CORDONED),
        (replicas(), site(phase=SitePhase.CORDONED), True, checks.CORDONED),
        (replicas(), site(phase=SitePhase.ONLINE, unschedulable=True), False, checks.CORDONED),
        (every_site(), site(phase=SitePhase.ONLINE, unschedulable=True), True, checks.CORDONED),
        (replicas(), site(phase=SitePhase.OFFLINE), False, checks.OFFLINE),
        (replicas(), site(phase=SitePhase.OFFLINE), True, checks.OFFLINE),
        (every_site(), site(phase=SitePhase.OFFLINE), False, checks.OFFLINE),
        (every_site(), site(phase=SitePhase.OFFLINE), True, None),
    ],
    ids=[
        "online",
        "pending",
        "unknown-phase",
        "cordoned",
        "cordoned-held",
        "unschedulable",
        "unschedulable-every-site-held",
        "offline",
        "offline-held-replicas-move",
        "offline-every-site-new",
        "offline-every-site-held-stays",
    ],
)
def test_phase(app: AppView, where: SiteView, held: bool, expected: str | None) -> None:
    assert answer("phase", trial(app, where, held=held)) == expected


# -- taints ---------------------------------------------------------------------------

NO_SCHEDULE = TaintView("gpu", "true", "NoSchedule")
NO_EXECUTE = TaintView("maint", None, "NoExecute")
PREFER_NOT = TaintView("slow", "yes", "PreferNoSchedule")


@pytest.mark.parametrize(
    ("taints", "tolerations", "held", "expected"),
    [
        ((), (), False, None),
        ((NO_SCHEDULE,), (), False, "had untolerated taint gpu=true:NoSchedule"),
        ((NO_SCHEDULE,), (), True, None),
        ((NO_EXECUTE,), (), False, "had untolerated taint maint=:NoExecute"),
        ((NO_EXECUTE,), (), True, "had untolerated taint maint=:NoExecute"),
        ((PREFER_NOT,), (), False, None),
        ((PREFER_NOT,), (), True, None),
        ((NO_SCHEDULE,), (TolerationView("gpu", "Exists"),), False, None),
        ((NO_SCHEDULE,), (TolerationView("gpu", "Equal", "true"),), False, None),
        (
            (NO_SCHEDULE,),
            (TolerationView("gpu", "Equal", "false"),),
            False,
            "had untolerated taint gpu=true:NoSchedule",
        ),
        ((NO_SCHEDULE,), (TolerationView("gpu", "Exists", effect="NoSchedule"),), False, None),
        (
            (NO_SCHEDULE,),
            (TolerationView("gpu", "Exists", effect="NoExecute"),),
            False,
            "had untolerated taint gpu=true:NoSchedule",
        ),
        ((NO_SCHEDULE, NO_EXECUTE), (TolerationView(None, "Exists"),), False, None),
        ((NO_EXECUTE,), (TolerationView("maint", "Equal"),), True, None),
        (
            (NO_SCHEDULE, NO_EXECUTE),
            (TolerationView("gpu", "Exists"),),
            True,
            "had untolerated taint maint=:NoExecute",
        ),
        (
            (PREFER_NOT, NO_SCHEDULE),
            (),
            False,
            "had untolerated taint gpu=true:NoSchedule",
        ),
    ],
    ids=[
        "no-taints",
        "no-schedule-new",
        "no-schedule-held-stays",
        "no-execute-new",
        "no-execute-held-goes",
        "prefer-not-new",
        "prefer-not-held",
        "tolerated-exists",
        "tolerated-equal",
        "equal-other-value",
        "tolerated-same-effect",
        "toleration-other-effect",
        "tolerate-everything",
        "no-value-equals-empty",
        "second-taint-untolerated",
        "prefer-not-skipped-for-next",
    ],
)
def test_taints(
    taints: tuple[TaintView, ...],
    tolerations: tuple[TolerationView, ...],
    held: bool,
    expected: str | None,
) -> None:
    app = replicas(tolerations=tolerations)
    assert answer("taints", trial(app, site(taints=taints), held=held)) == expected


# -- capacity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory", "room", "expected"),
    [
        (0, 0, Room(0, 0), None),
        (500, 0, Room(500, None), None),
        (500, 0, Room(499, None), "had too little cpu left (need 500m)"),
        (500, 0, Room(None, None), None),
        (0, 2**30, Room(None, 2**30), None),
        (0, 2**30, Room(None, 2**30 - 1), "had too little memory left (need 1024Mi)"),
        (500, 2**30, Room(0, 0), "had too little cpu left (need 500m)"),
        (500, 2**30, Room(600.5, 0), "had too little memory left (need 1024Mi)"),
        (500, 0, Room(-100, None), "had too little cpu left (need 500m)"),
        (0, 0, Room(-100, -100), None),
        (0, 2**30, Room(-100, 2**30), None),
    ],
    ids=[
        "needs-nothing",
        "exactly-fits",
        "one-short",
        "unlimited",
        "memory-fits",
        "memory-short",
        "cpu-reported-first",
        "memory-after-cpu",
        "overdrawn",
        "needs-nothing-on-overdrawn-site",
        "needs-no-cpu-on-cpu-overdrawn-site",
    ],
)
def test_capacity(cpu: int, memory: int, room: Room, expected: str | None) -> None:
    app = replicas(cpu_millis=cpu, memory_bytes=memory)
    assert answer("capacity", trial(app, room=room)) == expected


# -- devices --------------------------------------------------------------------------

CAMERA = {"kind": "camera", "model": "x"}
CAMERA_Y = {"kind": "camera", "model": "y"}
GPU = {"kind": "gpu"}


@pytest.mark.parametrize(
    ("needs", "devices", "expected"),
    [
        ((), (), None),
        ((DeviceNeed(parse_selector("kind=camera")),), (CAMERA,), None),
        (
            (DeviceNeed(parse_selector("kind=camera")),),
            (GPU,),
            "had fewer than 1 device(s) matching kind=camera",
        ),
        ((DeviceNeed(parse_selector("kind=camera"), 2),), (CAMERA, CAMERA_Y, GPU), None),
        (
            (DeviceNeed(parse_selector("kind=camera"), 3),),
            (CAMERA, CAMERA_Y, GPU),
            "had fewer than 3 device(s) matching kind=camera",
        ),
        (
            (DeviceNeed(parse_selector("kind=camera,model=x"), 2),),
            (CAMERA, CAMERA_Y),
            "had fewer than 2 device(s) matching kind=camera,model=x",
        ),
        ((DeviceNeed(Selector(), 3),), (CAMERA, CAMERA_Y, GPU), None),
        (
            (DeviceNeed(Selector(), 1),),
            (),
            "had fewer than 1 device(s) matching anything",
        ),
        (
            (DeviceNeed(parse_selector("kind=camera")), DeviceNeed(parse_selector("kind=gpu"))),
            (CAMERA,),
            "had fewer than 1 device(s) matching kind=gpu",
        ),
    ],
    ids=[
        "needs-none",
        "one-camera",
        "wrong-kind",
        "two-of-three",
        "three-of-two",
        "narrower-selector",
        "any-device",
        "any-device-none-there",
        "second-need-unmet",
    ],
)
def test_devices(
    needs: tuple[DeviceNeed, ...], devices: tuple[dict[str, str], ...], expected: str | None
) -> None:
    app = replicas(devices=needs)
    assert answer("devices", trial(app, site(devices=devices))) == expected


# -- locality -------------------------------------------------------------------------

FAR = "are farther than 100 km from the location (or have no location)"


@pytest.mark.parametrize(
    ("locality", "distance", "expected"),
    [
        (None, None, None),
        (Locality(point=(48.8, 2.3)), None, None),
        (Locality(point=(48.8, 2.3)), 5000.0, None),
        (Locality(point=(48.8, 2.3), max_km=100), 99.9, None),
        (Locality(point=(48.8, 2.3), max_km=100), 100.0, None),
        (Locality(point=(48.8, 2.3), max_km=100), 100.1, FAR),
        (Locality(point=(48.8, 2.3), max_km=100), None, FAR),
        (Locality(point=(48.8, 2.3), max_km=100), float("nan"), FAR),
        (
            Locality(site_group="hq", max_km=2.5),
            3.0,
            "are farther than 2.5 km from hq (or have no location)",
        ),
    ],
    ids=[
        "no-locality",
        "no-max-missing-location",
        "no-max-far",
        "within",
        "at-max",
        "beyond",
        "missing-location",
        "nan-location",
        "from-site-group",
    ],
)
def test_locality(locality: Locality | None, distance: float | None, expected: str | None) -> None:
    app = replicas(locality=locality)
    assert answer("locality", trial(app, distance_km=distance)) == expected


# -- policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "held", "expected"),
    [
        ((None, False), False, None),
        ((None, True), True, None),
        (("excluded by policy p", False), False, "excluded by policy p"),
        (("excluded by policy p", False), True, "excluded by policy p"),
        (("excluded by policy p", True), False, "excluded by policy p"),
        (("excluded by policy p", True), True, None),
    ],
    ids=[
        "allowed",
        "allowed-held",
        "denied",
        "denied-held-move",
        "denied-new-report",
        "denied-held-report-stays",
    ],
)
def test_policy(verdict: tuple[str | None, bool], held: bool, expected: str | None) -> None:
    assert answer("policy", trial(replicas(), held=held, policy=verdict)) == expected


# -- runtime ----------------------------------------------------------------------------

KUBE_ONLY = ("kubernetes",)
BOTH = ("kubernetes", "process")


@pytest.mark.parametrize(
    ("runtime", "runtimes", "held", "expected"),
    [
        ("process", ("process",), False, None),
        ("kubernetes", KUBE_ONLY, False, None),
        ("kubernetes", BOTH, False, None),
        ("process", BOTH, False, None),
        ("kubernetes", ("process",), False, "run process, the workload is kubernetes"),
        ("kubernetes", ("process",), True, "run process, the workload is kubernetes"),
        ("process", KUBE_ONLY, False, "run kubernetes, the workload is process"),
    ],
    ids=[
        "process-on-process",
        "kubernetes-on-kubernetes",
        "kubernetes-on-both",
        "process-on-both",
        "kubernetes-on-process-host",
        "held-moves-too",
        "process-on-cluster",
    ],
)
def test_runtime(runtime: str, runtimes: tuple[str, ...], held: bool, expected: str | None) -> None:
    t = trial(replicas(runtime=runtime), site(runtimes=runtimes), held=held)
    assert answer("runtime", t) == expected


@pytest.mark.parametrize(
    ("runtime", "declared", "reported", "expected"),
    [
        ("kubernetes", BOTH, KUBE_ONLY, None),
        (
            "process",
            BOTH,
            KUBE_ONLY,
            "declare kubernetes and process but their agents run kubernetes only",
        ),
        (
            "kubernetes",
            ("process",),
            KUBE_ONLY,
            "declare process (their agents run kubernetes), the workload is kubernetes",
        ),
    ],
    ids=["runs-what-it-runs", "declared-but-not-run", "run-but-not-declared"],
)
def test_runtime_names_what_the_agent_runs(
    runtime: str, declared: tuple[str, ...], reported: tuple[str, ...], expected: str | None
) -> None:
    runs = tuple(r for r in declared if r in reported)
    where = site(runtimes=runs, declared_runtimes=declared, reported_runtimes=reported)
    assert answer("runtime", trial(replicas(runtime=runtime), where)) == expected


# -- the stack ------------------------------------------------------------------------


def test_checks_run_in_the_stack_order() -> None:
    """These in this order (a new check may come in between: the registry finds it)."""
    names = [check.name for check in checks.CHECKS]
    assert [check.order for check in checks.CHECKS] == sorted(c.order for c in checks.CHECKS)
    assert [name for name in names if name in STACK] == STACK


STACK = [
    "selector",
    "siteGroups",
    "runtime",
    "phase",
    "taints",
    "capacity",
    "devices",
    "locality",
    "policy",
]


BAD_SITE = site(
    labels={"region": "us"},
    phase=SitePhase.CORDONED,
    taints=(NO_SCHEDULE,),
)
BAD_APP = replicas(
    selector=parse_selector("region=eu"),
    site_groups=("eu",),
    cpu_millis=500,
    devices=(DeviceNeed(parse_selector("kind=camera")),),
    locality=Locality(point=(0.0, 0.0), max_km=1),
)
LOOSE = replace(BAD_APP, selector=Selector(), site_groups=())
"""Past the label checks: the rest of the stack decides."""
DENIED = ("excluded by policy p", False)


@pytest.mark.parametrize(
    ("app", "where", "room", "verdict", "distance", "expected"),
    [
        (BAD_APP, BAD_SITE, Room(0, None), DENIED, 9.0, "did not match the selector"),
        (
            replace(BAD_APP, selector=Selector()),
            BAD_SITE,
            Room(0, None),
            DENIED,
            9.0,
            "are in none of the siteGroups",
        ),
        (
            LOOSE,
            BAD_SITE,
            Room(0, None),
            DENIED,
            9.0,
            checks.CORDONED,
        ),
        (
            LOOSE,
            site(labels={"region": "us"}, taints=(NO_SCHEDULE,)),
            Room(0, None),
            DENIED,
            9.0,
            "had untolerated taint gpu=true:NoSchedule",
        ),
        (
            LOOSE,
            site(labels={"region": "us"}),
            Room(0, None),
            DENIED,
            9.0,
            "had too little cpu left (need 500m)",
        ),
        (
            LOOSE,
            site(labels={"region": "us"}),
            FREE,
            DENIED,
            9.0,
            "had fewer than 1 device(s) matching kind=camera",
        ),
        (
            LOOSE,
            site(labels={"region": "us"}, devices=(CAMERA,)),
            FREE,
            DENIED,
            9.0,
            "are farther than 1 km from the location (or have no location)",
        ),
        (
            LOOSE,
            site(labels={"region": "us"}, devices=(CAMERA,)),
            FREE,
            DENIED,
            0.5,
            "excluded by policy p",
        ),
        (
            LOOSE,
            site(labels={"region": "us"}, devices=(CAMERA,)),
            FREE,
            (None, False),
            0.5,
            None,
        ),
    ],
    ids=[
        "selector-first",
        "then-site-groups",
        "then-phase",
        "then-taints",
        "then-capacity",
        "then-devices",
        "then-locality",
        "then-policy",
        "all-pass",
    ],
)
def test_first_reason_is_the_first_failing_check(
    app: AppView,
    where: SiteView,
    room: Room,
    verdict: tuple[str | None, bool],
    distance: float,
    expected: str | None,
) -> None:
    t = trial(app, where, room, policy=verdict, distance_km=distance)
    assert first_reason_at(t, 0) == expected
    failing = [why for _, why in verdicts_at(t, 0) if why]
    assert (failing[0] if failing else None) == expected
