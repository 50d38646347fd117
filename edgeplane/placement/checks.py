"""Feasibility checks, one small function each, cheapest first (Nomad's feasibility
stack). A check answers why a site cannot take an application, or None.

These are the checks for one site: ``explain --site`` shows each one's verdict, and
the planner asks them when one site changes. Over the whole fleet the planner runs the
same checks as array operations (``planner``); a property test holds the two to the
same answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgeplane.api.selectors import Selector
from edgeplane.placement.model import AppView, SiteView


@dataclass
class Room:
    """What is left of a site's capacity for an application (None: not limited)."""

    cpu: int | float | None
    memory: int | float | None


@dataclass(frozen=True)
class Trial:
    app: AppView
    site: SiteView
    room: Room
    held: bool
    groups: Mapping[str, Selector]
    policy: tuple[str | None, bool] = (None, False)
    """The policy verdict for the site's labels: why excluded, and whether a held site
    may stay (onViolation: Report)."""
    distance_km: float | None = None
    """From the application's locality target; None without one or without a location."""


Check = Callable[[Trial], str | None]


def selector_reason(app: AppView, labels: Mapping[str, str]) -> str | None:
    return None if app.selector.matches(labels) else "did not match the selector"


def groups_reason(
    app: AppView, labels: Mapping[str, str], groups: Mapping[str, Selector]
) -> str | None:
    if not app.site_groups:
        return None
    if missing := [g for g in app.site_groups if g not in groups]:
        return f"siteGroup {missing[0]} does not exist"
    if not any(groups[g].matches(labels) for g in app.site_groups):
        return "are in none of the siteGroups"
    return None


def runtime_reason(app: AppView, site: SiteView) -> str | None:
    """A workload goes only where its runtime runs (what runs elsewhere moves too: it
    cannot run there)."""
    if app.runtime in site.runtimes:
        return None
    if site.declared_runtimes:  # the agent runs less than the site declares: say which
        declared, reported = (
            " and ".join(r) for r in (site.declared_runtimes, site.reported_runtimes)
        )
        if app.runtime in site.declared_runtimes:
            return f"declare {declared} but their agents run {reported} only"
        return f"declare {declared} (their agents run {reported}), the workload is {app.runtime}"
    return f"run {' and '.join(site.runtimes) or 'nothing'}, the workload is {app.runtime}"


CORDONED = "are cordoned"
OFFLINE = "are offline or have not reported since they joined"
AWAY = ("Offline", "Pending")
"""Phases that take nothing new: a Pending site joined but its agent never reported
(it may never: a token used by someone who went away)."""


def phase_reason(app: AppView, site: SiteView, held: bool) -> str | None:
    """Cordoned sites take nothing. Offline and Pending ones take nothing new; what an
    EverySite application runs there stays (it goes on running offline), while
    Replicas move."""
    if site.unschedulable or site.phase == "Cordoned":
        return CORDONED
    if site.phase in AWAY and not (held and app.every_site):
        return OFFLINE
    return None


def tolerated(app: AppView, key: str, value: str | None, effect: str) -> bool:
    for toleration in app.tolerations:
        if toleration.effect not in (None, effect):
            continue
        if toleration.key is None and toleration.operator == "Exists":
            return True
        if toleration.key == key and (
            toleration.operator == "Exists" or (toleration.value or "") == (value or "")
        ):
            return True
    return False


def taints_reason(app: AppView, site: SiteView, held: bool) -> str | None:
    """NoSchedule keeps new applications off (what runs stays); NoExecute also sends
    away what runs. PreferNoSchedule only ranks the site lower."""
    for taint in site.taints:
        if taint.effect == "PreferNoSchedule" or tolerated(
            app, taint.key, taint.value, taint.effect
        ):
            continue
        if taint.effect == "NoExecute" or not held:
            return f"had untolerated taint {taint.key}={taint.value or ''}:{taint.effect}"
    return None


def cpu_reason(app: AppView) -> str:
    return f"had too little cpu left (need {app.cpu_millis}m)"


def memory_reason(app: AppView) -> str:
    return f"had too little memory left (need {app.memory_bytes // 2**20}Mi)"


def capacity_reason(app: AppView, room: Room) -> str | None:
    """What needs nothing fits even where others overdrew the site (as the planner has it)."""
    if app.cpu_millis and room.cpu is not None and app.cpu_millis > room.cpu:
        return cpu_reason(app)
    if app.memory_bytes and room.memory is not None and app.memory_bytes > room.memory:
        return memory_reason(app)
    return None


def device_reason(app: AppView, index: int) -> str:
    need = app.devices[index]
    return f"had fewer than {need.count} device(s) matching {str(need.selector) or 'anything'}"


def devices_reason(app: AppView, site: SiteView) -> str | None:
    for i, need in enumerate(app.devices):
        if sum(1 for d in site.devices if need.selector.matches(d)) < need.count:
            return device_reason(app, i)
    return None


def locality_reason(app: AppView) -> str:
    assert app.locality is not None
    target = app.locality.site_group or "the location"
    return f"are farther than {app.locality.max_km:g} km from {target} (or have no location)"


def distance_reason(app: AppView, distance_km: float | None) -> str | None:
    if app.locality is None or app.locality.max_km is None:
        return None
    if distance_km is None or math.isnan(distance_km) or distance_km > app.locality.max_km:
        return locality_reason(app)
    return None


def policy_reason(verdict: tuple[str | None, bool], held: bool) -> str | None:
    why, may_stay = verdict
    return None if why is None or (held and may_stay) else why


def selector(t: Trial) -> str | None:
    return selector_reason(t.app, t.site.labels)


def site_groups(t: Trial) -> str | None:
    return groups_reason(t.app, t.site.labels, t.groups)


def runtime(t: Trial) -> str | None:
    return runtime_reason(t.app, t.site)


def phase(t: Trial) -> str | None:
    return phase_reason(t.app, t.site, t.held)


def taints(t: Trial) -> str | None:
    return taints_reason(t.app, t.site, t.held)


def capacity(t: Trial) -> str | None:
    return capacity_reason(t.app, t.room)


def devices(t: Trial) -> str | None:
    return devices_reason(t.app, t.site)


def locality(t: Trial) -> str | None:
    return distance_reason(t.app, t.distance_km)


def policy(t: Trial) -> str | None:
    return policy_reason(t.policy, t.held)


CHECKS: tuple[tuple[str, Check], ...] = (
    ("selector", selector),
    ("siteGroups", site_groups),
    ("runtime", runtime),
    ("phase", phase),
    ("taints", taints),
    ("capacity", capacity),
    ("devices", devices),
    ("locality", locality),
    ("policy", policy),
)
"""In order: the cheapest first; the policy (CEL, if not cached) last."""


def verdicts(trial: Trial) -> list[tuple[str, str | None]]:
    """Every check's answer for one site (for ``explain --site``)."""
    return [(name, check(trial)) for name, check in CHECKS]


def first_reason(trial: Trial) -> str | None:
    """Why the site cannot take the application (the first check that fails), or None."""
    for _, check in CHECKS:
        if why := check(trial):
            return why
    return None
