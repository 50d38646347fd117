"""Feasibility checks, one small function each, cheapest first (Nomad's feasibility
stack). A check answers why a site cannot take an application, or None.

The planner runs the label checks (selector, siteGroups, and policy, whose verdicts are
cached) once per distinct label set, and the site checks (phase, taints, capacity) per
site; ``verdicts`` runs all of them on one ``Trial`` for ``explain``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeplane.api.selectors import Selector
    from edgeplane.placement.simple import AppView, Room, SiteView, Snapshot


@dataclass(frozen=True)
class Trial:
    app: AppView
    site: SiteView
    room: Room
    held: bool
    snapshot: Snapshot


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


def phase_reason(site: SiteView, held: bool) -> str | None:
    """Cordoned sites take nothing; Offline ones take nothing new (what they hold
    stays until failover moves it)."""
    if site.unschedulable or site.phase == "Cordoned":
        return "are cordoned"
    if site.phase == "Offline" and not held:
        return "are offline"
    return None


def _tolerated(app: AppView, key: str, value: str | None, effect: str) -> bool:
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
        if taint.effect == "PreferNoSchedule" or _tolerated(
            app, taint.key, taint.value, taint.effect
        ):
            continue
        if taint.effect == "NoExecute" or not held:
            return f"had untolerated taint {taint.key}={taint.value or ''}:{taint.effect}"
    return None


def capacity_reason(app: AppView, room: Room) -> str | None:
    if room.cpu is not None and app.cpu_millis > room.cpu:
        return f"had too little cpu left (need {app.cpu_millis}m)"
    if room.memory is not None and app.memory_bytes > room.memory:
        return f"had too little memory left (need {app.memory_bytes // 2**20}Mi)"
    return None


def site_reason(app: AppView, site: SiteView, held: bool, room: Room) -> str | None:
    """The checks that depend on the site itself, not only on its labels."""
    return (
        phase_reason(site, held)
        or (taints_reason(app, site, held) if site.taints else None)
        or capacity_reason(app, room)
    )


def selector(t: Trial) -> str | None:
    return selector_reason(t.app, t.site.labels)


def site_groups(t: Trial) -> str | None:
    return groups_reason(t.app, t.site.labels, t.snapshot.groups)


def phase(t: Trial) -> str | None:
    return phase_reason(t.site, t.held)


def taints(t: Trial) -> str | None:
    return taints_reason(t.app, t.site, t.held)


def capacity(t: Trial) -> str | None:
    return capacity_reason(t.app, t.room)


def policy(t: Trial) -> str | None:
    return t.snapshot.policy(t.app, t.site, t.held)


CHECKS: tuple[tuple[str, Check], ...] = (
    ("selector", selector),
    ("siteGroups", site_groups),
    ("phase", phase),
    ("taints", taints),
    ("capacity", capacity),
    ("policy", policy),
)
"""In order: the cheapest first; the policy (CEL, if not cached) last."""


def verdicts(trial: Trial) -> list[tuple[str, str | None]]:
    """Every check's answer for one site (for ``explain --site``)."""
    return [(name, check(trial)) for name, check in CHECKS]
