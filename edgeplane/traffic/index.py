"""An endpoint table kept current from object changes, working out again only what a
change touches.

The hub feeds it from its informer (``hub.endpoints``) and ``edgeplane dns`` from a
watch of the hub (``client.mirror``, ``cli.traffic``). A Site matters only for its phase, region and
location: a heartbeat, which renews a lease and changes none of them, costs nothing
here. An Assignment matters for its site, status and generation. ``table`` rebuilds
the targets of the applications marked since the last call (``table_from``) and hands
out a new ``Table`` only when something changed, so a DNS server can tell a new table
by its identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.traffic.table import EMPTY, Table, Target, table_from


def _site_meaning(obj: Mapping[str, Any] | None) -> tuple[object, ...] | None:
    if obj is None:
        return None
    labels = (obj.get("metadata") or {}).get("labels") or {}
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    return (status.get("phase"), labels.get("region"), repr(spec.get("location")))


def _assignment_meaning(obj: Mapping[str, Any] | None) -> tuple[object, ...] | None:
    if obj is None:
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    watched = ("phase", "ready", "endpoints", "observedGeneration")
    return (spec.get("site"), generation, *(repr(status.get(k)) for k in watched))


def _application_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return None
    app, site = spec.get("application"), spec.get("site")
    return (app, site) if isinstance(app, str) and isinstance(site, str) else None


class TableIndex:
    def __init__(self) -> None:
        self._sites: dict[str, Object] = {}
        self._by_app: dict[str, dict[str, Object]] = {}
        self._placed: dict[str, tuple[str, str]] = {}
        """Assignment name -> (application, site) as last put."""
        self._apps_at: dict[str, dict[str, int]] = {}
        """Site -> application -> how many of its assignments are there."""
        self._targets: dict[str, tuple[Target, ...]] = {}
        self._dirty: set[str] = set()
        self._table: Table = EMPTY

    def put_site(self, obj: Object) -> None:
        name = obj["metadata"]["name"]
        if _site_meaning(self._sites.get(name)) != _site_meaning(obj):
            self._dirty.update(self._apps_at.get(name, ()))
        self._sites[name] = obj

    def drop_site(self, name: str) -> None:
        if self._sites.pop(name, None) is not None:
            self._dirty.update(self._apps_at.get(name, ()))

    def put_assignment(self, obj: Object) -> None:
        name, placed = obj["metadata"]["name"], _application_of(obj)
        if placed is not None and placed == self._placed.get(name):
            held = self._by_app[placed[0]].get(name)
            self._by_app[placed[0]][name] = obj
            if _assignment_meaning(held) != _assignment_meaning(obj):
                self._dirty.add(placed[0])
            return
        self.drop_assignment(name)
        if placed is None:
            return
        app, site = placed
        self._by_app.setdefault(app, {})[name] = obj
        self._placed[name] = placed
        at = self._apps_at.setdefault(site, {})
        at[app] = at.get(app, 0) + 1
        self._dirty.add(app)

    def drop_assignment(self, name: str) -> None:
        placed = self._placed.pop(name, None)
        if placed is None:
            return
        app, site = placed
        self._by_app.get(app, {}).pop(name, None)
        if not self._by_app.get(app):
            self._by_app.pop(app, None)
        at = self._apps_at.get(site, {})
        at[app] = at.get(app, 1) - 1
        if at[app] <= 0:
            del at[app]
        if not at:
            self._apps_at.pop(site, None)
        self._dirty.add(app)

    def reset(self, sites: Iterable[Object], assignments: Iterable[Object]) -> None:
        """Start again from a full list (after a relist)."""
        known = set(self._targets)  # worked out again, so the ones now gone go
        for held in (self._sites, self._by_app, self._placed, self._apps_at):
            held.clear()
        for site in sites:
            self.put_site(site)
        for assignment in assignments:
            self.put_assignment(assignment)
        self._dirty |= known

    def applications_at(self, site: str) -> tuple[str, ...]:
        """The applications with an assignment at ``site``."""
        return tuple(sorted(self._apps_at.get(site, ())))

    def table(self) -> Table:
        if not self._dirty:
            return self._table
        targets = dict(self._targets)
        for app in self._dirty:
            assignments = self._by_app.get(app, {})
            sites = {self._placed[n][1] for n in assignments}
            found = table_from(
                (self._sites[s] for s in sites if s in self._sites), assignments.values()
            ).of(app)
            if found:
                targets[app] = found
            else:
                targets.pop(app, None)
        self._dirty.clear()
        self._targets = targets
        self._table = Table(targets)
        return self._table
