"""Which sites can take an application, fast: sites are grouped by label set, so the
label checks run once per distinct set (a fleet of 10,000 sites has a few hundred),
and only the sites of passing sets get the per-site checks.

The order of checks, and so the reason each site is counted under, is the same as
``checks.CHECKS``: selector, siteGroups, phase, taints, capacity, policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from edgeplane.placement.checks import groups_reason, selector_reason, site_reason

if TYPE_CHECKING:
    from edgeplane.placement.simple import AppView, Room, SiteView, Snapshot


class LabelSets:
    def __init__(self, sites: tuple[SiteView, ...]) -> None:
        grouped: dict[frozenset[tuple[str, str]], list[SiteView]] = {}
        for site in sites:
            grouped.setdefault(frozenset(site.labels.items()), []).append(site)
        self.groups: list[tuple[Mapping[str, str], list[SiteView]]] = [
            (members[0].labels, members) for members in grouped.values()
        ]


class RoomSource(Protocol):
    """What an application may use at a site (the ledger's answer)."""

    def room_for(self, app: AppView, site: str) -> Room: ...


def feasible_sites(
    app: AppView,
    snapshot: Snapshot,
    sets: LabelSets,
    rooms: RoomSource,
    current: frozenset[str],
) -> tuple[list[SiteView], Counter[str]]:
    """The sites that can take ``app``, and every other site counted under its reason."""
    feasible: list[SiteView] = []
    reasons: Counter[str] = Counter()
    for labels, members in sets.groups:
        if why := selector_reason(app, labels) or groups_reason(app, labels, snapshot.groups):
            reasons[why] += len(members)
            continue
        by_labels: str | None = None
        asked = False
        for site in members:
            held = site.name in current
            why = site_reason(app, site, held, rooms.room_for(app, site.name))
            if why is None:
                if not asked:  # one verdict per label set; held sites may be let be
                    by_labels, asked = snapshot.policy(app, site, False), True
                why = snapshot.policy(app, site, True) if by_labels and held else by_labels
            if why:
                reasons[why] += 1
            else:
                feasible.append(site)
    return feasible, reasons
