"""Feasibility checks, one small function each, cheapest first (Nomad's feasibility
stack). A check answers why a site cannot take an application, or None.

Every check sees a ``Trial``: the application, the site, what is left of the site's
capacity in this pass, whether the application runs there now, and the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeplane.placement.simple import AppView, Room, SiteView, Snapshot


@dataclass(frozen=True)
class Trial:
    app: AppView
    site: SiteView
    room: Room
    held: bool
    snapshot: Snapshot


Check = Callable[[Trial], str | None]


def selector(t: Trial) -> str | None:
    return None if t.app.selector.matches(t.site.labels) else "did not match the selector"


def site_groups(t: Trial) -> str | None:
    if not t.app.site_groups:
        return None
    groups = t.snapshot.groups
    if missing := [g for g in t.app.site_groups if g not in groups]:
        return f"siteGroup {missing[0]} does not exist"
    if not any(groups[g].matches(t.site.labels) for g in t.app.site_groups):
        return "are in none of the siteGroups"
    return None


def phase(t: Trial) -> str | None:
    """Cordoned sites take nothing; Offline ones take nothing new (what they hold
    stays until failover moves it)."""
    if t.site.unschedulable or t.site.phase == "Cordoned":
        return "are cordoned"
    if t.site.phase == "Offline" and not t.held:
        return "are offline"
    return None


def _tolerated(t: Trial, key: str, value: str | None, effect: str) -> bool:
    for toleration in t.app.tolerations:
        if toleration.effect not in (None, effect):
            continue
        if toleration.key is None and toleration.operator == "Exists":
            return True
        if toleration.key == key and (
            toleration.operator == "Exists" or (toleration.value or "") == (value or "")
        ):
            return True
    return False


def taints(t: Trial) -> str | None:
    """NoSchedule keeps new applications off (what runs stays); NoExecute also sends
    away what runs. PreferNoSchedule only ranks the site lower."""
    for taint in t.site.taints:
        if taint.effect == "PreferNoSchedule" or _tolerated(
            t, taint.key, taint.value, taint.effect
        ):
            continue
        if taint.effect == "NoExecute" or not t.held:
            return f"had untolerated taint {taint.key}={taint.value or ''}:{taint.effect}"
    return None


def capacity(t: Trial) -> str | None:
    if t.room.cpu is not None and t.app.cpu_millis > t.room.cpu:
        return f"had too little cpu left (need {t.app.cpu_millis}m)"
    if t.room.memory is not None and t.app.memory_bytes > t.room.memory:
        return f"had too little memory left (need {t.app.memory_bytes // 2**20}Mi)"
    return None


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


def reject(trial: Trial) -> str | None:
    """The first reason the site cannot take the application, or None."""
    for _, check in CHECKS:
        if why := check(trial):
            return why
    return None


def verdicts(trial: Trial) -> list[tuple[str, str | None]]:
    """Every check's answer for one site (for ``explain --site``)."""
    return [(name, check(trial)) for name, check in CHECKS]
