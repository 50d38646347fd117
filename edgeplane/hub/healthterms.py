"""Each site's health terms: how often it heartbeats, how long its lease lasts, and the
suspicion (phi) at which the hub declares it unreachable.

The hub's ``--heartbeat-seconds`` is every site's period unless a SiteGroup the site
belongs to says otherwise (``spec.health``): the shortest period of its groups and the
highest threshold win, so a site in a fast group and a tolerant one is both watched
closely and not declared dead on a lossy link. The lease follows the period
(``api.leases.lease_seconds_for``). The heartbeat route tells each agent its terms; the
health controller judges each site by them.

Read at every heartbeat, so cached: the groups that set terms are gathered again only
when the informer has applied a change since, and a site's terms are kept by its labels
and those groups.

Neighbours: ``hub.heartbeat`` (answers the terms), ``hub.controllers.health`` (the
threshold and the period the detector expects), ``api.leases`` (the lease rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from edgeplane.api.leases import lease_seconds_for
from edgeplane.api.selectors import Selector, selector_from_dict
from edgeplane.api.wire import Object
from edgeplane.health.detector import DEFAULT_THRESHOLD

DEFAULT_HEARTBEAT_SECONDS = 10.0
CACHED_SITES_MAX = 200_000


@dataclass(frozen=True, slots=True)
class SiteTerms:
    heartbeat_seconds: float
    lease_seconds: float
    threshold: float


@dataclass(frozen=True, slots=True)
class _GroupTerms:
    selector: Selector
    heartbeat_seconds: float | None
    threshold: float | None


class GroupSource(Protocol):
    """What the terms read of the informer: its SiteGroups and how far it has applied."""

    version: int

    def items(self, kind: str) -> Mapping[str, Object]: ...


class HealthTerms:
    """Terms by site; one per hub (``app.state.health_terms``)."""

    def __init__(
        self,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        informer: GroupSource | None = None,
    ) -> None:
        self.default = SiteTerms(
            heartbeat_seconds, lease_seconds_for(heartbeat_seconds), DEFAULT_THRESHOLD
        )
        self._informer = informer
        self._seen_version = -1
        self._groups: tuple[_GroupTerms, ...] = ()
        self._by_labels: dict[tuple[tuple[str, str], ...], SiteTerms] = {}

    def of(self, site: Object) -> SiteTerms:
        """The terms of a stored Site (by its labels and the groups that match them)."""
        self._refresh()
        if not self._groups:
            return self.default
        labels = site.get("metadata", {}).get("labels") or {}
        key = tuple(sorted(labels.items()))
        found = self._by_labels.get(key)
        if found is None:
            if len(self._by_labels) >= CACHED_SITES_MAX:
                self._by_labels.clear()  # bounded: label sets are few in a real fleet
            found = self._by_labels[key] = self._terms(labels)
        return found

    def _terms(self, labels: Mapping[str, str]) -> SiteTerms:
        matching = [g for g in self._groups if g.selector.matches(labels)]
        periods = [g.heartbeat_seconds for g in matching if g.heartbeat_seconds is not None]
        thresholds = [g.threshold for g in matching if g.threshold is not None]
        period = min(periods, default=self.default.heartbeat_seconds)
        return SiteTerms(
            period, lease_seconds_for(period), max(thresholds, default=self.default.threshold)
        )

    def _refresh(self) -> None:
        informer = self._informer
        if informer is None or informer.version == self._seen_version:
            return
        self._seen_version = informer.version
        groups = tuple(
            g for g in map(_group_terms, informer.items("SiteGroup").values()) if g is not None
        )
        if groups != self._groups:
            self._groups, self._by_labels = groups, {}


def _group_terms(group: Object) -> _GroupTerms | None:
    spec = group.get("spec") or {}
    health = spec.get("health") or {}
    period, threshold = health.get("heartbeatSeconds"), health.get("suspicionThreshold")
    if period is None and threshold is None:
        return None
    try:
        selector = selector_from_dict(spec.get("selector") or {})
    except ValueError:
        return None  # admission refuses these; one stored otherwise changes nothing
    return _GroupTerms(
        selector,
        None if period is None else float(period),
        None if threshold is None else float(threshold),
    )
