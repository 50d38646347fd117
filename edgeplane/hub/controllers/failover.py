"""Failover and failback as the placement controller carries them out.

Before a pass (``moves``): replicas at an Offline site wait there until their failover
is due (``health.failover``: ``afterSeconds`` after the site's last heartbeat, and for
fenced replicas not before its lease has certainly ended); a replica that replaced one
at a lost site goes home once that site has been back for its hold-down
(``health.failback``, with hysteresis for sites that flap), by telling placement it
runs at home already (stickiness keeps it there). ``next_at`` says when to look again.

An instance that stays unhealthy at a reachable site past the application's
``failover.unhealthyAfterSeconds`` makes the application avoid that site for a while
(``Unhealthy``; placement's ``unhealthy`` check), so it moves where it may run.

After the pass (``carried_out``): each new Assignment that replaces one at a lost site
says which (``failedOverFrom``: the first lost site of a chain, its home), a fenced
one gets an epoch higher than any before it, what is kept keeps both, and each move is
an Application event ("failed over from A to B: no heartbeat for 12 s").

The hub's clock decides (``now``); the sites' stamps are the hub's too (``lastHeartbeat``
is the last heartbeat as the health controller saw it, ``returns`` when it came back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.health import failback, failover
from edgeplane.health.detector import Detector
from edgeplane.health.liveness import parse_stamp

LeaseOf = Callable[[Object], float]
"""A stored Site's lease in seconds (``hub.healthterms``)."""
Doubted = Callable[[Object, float], bool]
"""Whether the failure detector doubts a stored Site at a time (its silence is already
unusual, though it is not yet suspected): no replica goes home to it meanwhile."""
DOUBT_RECHECK_SECONDS = 1.0
"""When to look again at a home that was doubted: it is heard again, or found lost."""


@dataclass
class Moves:
    """What failover and failback change of a pass, and when to look again."""

    waiting: dict[str, frozenset[str]] = field(default_factory=dict)
    avoiding: dict[str, frozenset[str]] = field(default_factory=dict)
    current: dict[str, dict[str, int]] = field(default_factory=dict)
    next_at: float | None = None
    lost: dict[str, float] = field(default_factory=dict)
    """Offline sites by name: when each was last heard (the hub's clock)."""
    homes: dict[tuple[str, str], str] = field(default_factory=dict)
    """(application, site it moves back from) -> the home it moves back to."""

    def later(self, at: float | None) -> None:
        if at is not None and (self.next_at is None or at < self.next_at):
            self.next_at = at


def doubt(detector: Detector) -> Doubted:
    """``Doubted`` as ``detector`` sees each site (``Detector.doubts``)."""

    def doubted(site: Object, now: float) -> bool:
        return detector.doubts(site["metadata"]["name"], now)

    return doubted


def terms_of(app: Object) -> failover.Terms:
    """An application's failover terms from its stored spec (validated already)."""
    spec = (app.get("spec") or {}).get("failover") or {}
    defaults = failover.Terms()
    return failover.Terms(
        after_seconds=_number(spec.get("afterSeconds"), defaults.after_seconds),
        strict=spec.get("fencing") == "Strict",
        failback=spec.get("failback") is True,
        hold_down_seconds=_number(spec.get("holdDownSeconds"), defaults.hold_down_seconds),
    )


def moves(
    apps: Iterable[Object],
    sites: Mapping[str, Object],
    stored: Mapping[str, Object],
    current: Mapping[str, Mapping[str, int]],
    lease_of: LeaseOf,
    now: float | None = None,
    unhealthy: Unhealthy | None = None,
    doubted: Doubted | None = None,
) -> Moves:
    """Which replicas wait at offline sites, which go home, which sites an application
    avoids, and when to look again. ``doubted``: the detector's doubt of a home (none
    without it)."""
    at = time.time() if now is None else now
    found = Moves(current={a: dict(held) for a, held in current.items()})
    by_name = {a["metadata"]["name"]: a for a in apps}
    if unhealthy is not None:
        unhealthy.seen(stored.values(), at)
        found.avoiding, due = unhealthy.avoiding(by_name, stored, at)
        found.later(due)
    for assignment in stored.values():
        spec = assignment["spec"]
        app = by_name.get(spec["application"])
        site = sites.get(spec["site"])
        if app is None or site is None or _every_site(app):
            continue
        terms = terms_of(app)
        if _phase(site) == "Offline":
            _wait(found, spec, site, terms, lease_of(site), at)
        elif terms.failback and (home := spec.get("failedOverFrom")):
            _go_home(found, spec, sites.get(home), terms, at, doubted)
    return found


def _wait(
    found: Moves,
    spec: Mapping[str, Any],
    site: Object,
    terms: failover.Terms,
    lease: float,
    now: float,
) -> None:
    last = parse_stamp((site.get("status") or {}).get("lastHeartbeat"))
    if last is not None:
        # Stamps are whole seconds, cut down: the heartbeat may have come up to a second
        # later, and a fenced replacement must never start early for it.
        last = float(int(last)) + 1.0
    name = spec["site"]
    found.lost[name] = now if last is None else last
    if last is None or failover.is_due(last, terms, lease, now):
        return
    app = spec["application"]
    found.waiting[app] = found.waiting.get(app, frozenset()) | {name}
    found.later(failover.due_at(last, terms, lease))


def _go_home(
    found: Moves,
    spec: Mapping[str, Any],
    home: Object | None,
    terms: failover.Terms,
    now: float,
    doubted: Doubted | None,
) -> None:
    if home is None or _phase(home) != "Online":
        return
    returns = _returns(home)
    if not failback.may_fail_back(True, returns, terms.hold_down_seconds, now):
        found.later(failback.back_at(returns, terms.hold_down_seconds, now))
        return
    if doubted is not None and doubted(home, now):
        # Healthy for its hold-down means heard from until now: a home silent for
        # longer than its link explains may be lost again, not found so yet.
        found.later(now + DOUBT_RECHECK_SECONDS)
        return
    app, away, name = spec["application"], spec["site"], home["metadata"]["name"]
    held = found.current.setdefault(app, {})
    count = held.pop(away, 0)
    if count:
        held[name] = held.get(name, 0) + count
        found.homes[(app, away)] = name


UNHEALTHY_PHASES = frozenset({"Unhealthy", "CrashLoopBackOff", "Failed"})
AVOID_FACTOR, AVOID_MIN_SECONDS = 10.0, 300.0
"""How long a site is avoided after an instance stayed unhealthy there: ten times the
application's threshold, at least five minutes (then it may be tried again)."""
TRACKED_MAX = 100_000


class Unhealthy:
    """Since when each Assignment has been unhealthy at a reachable site (as this hub
    saw it: a new leader starts counting again), and the sites each application avoids
    after one stayed unhealthy past ``failover.unhealthyAfterSeconds``."""

    def __init__(self) -> None:
        self.since: dict[str, float] = {}
        self.avoided: dict[tuple[str, str], float] = {}

    def seen(self, assignments: Iterable[Object], now: float) -> None:
        """Note the phases of these Assignments (a pass's, or a status update's)."""
        for obj in assignments:
            key = obj["metadata"]["name"]
            if (obj.get("status") or {}).get("phase") in UNHEALTHY_PHASES:
                if len(self.since) < TRACKED_MAX:
                    self.since.setdefault(key, now)
            else:
                self.since.pop(key, None)

    def noted(
        self, apps: Iterable[Object], assignments: Iterable[Object], now: float
    ) -> float | None:
        """``seen``, and when the first of these may have stayed unhealthy too long."""
        assignments = list(assignments)
        self.seen(assignments, now)
        limits = {a["metadata"]["name"]: unhealthy_after(a) for a in apps}
        due = [
            since + limit
            for obj in assignments
            if (since := self.since.get(obj["metadata"]["name"])) is not None
            and (limit := limits.get(obj["spec"]["application"])) is not None
        ]
        return min(due, default=None)

    def avoiding(
        self, apps: Mapping[str, Object], stored: Mapping[str, Object], now: float
    ) -> tuple[dict[str, frozenset[str]], float | None]:
        """The sites each application avoids now, and when one more comes due."""
        self.since = {k: t for k, t in self.since.items() if k in stored}
        next_at = None
        for key, since in self.since.items():
            spec = stored[key]["spec"]
            limit = unhealthy_after(apps.get(spec["application"]))
            if limit is None:
                continue
            if now - since >= limit:
                until = now + max(AVOID_MIN_SECONDS, AVOID_FACTOR * limit)
                self.avoided.setdefault((spec["application"], spec["site"]), until)
            else:
                next_at = min(next_at or since + limit, since + limit)
        self.avoided = {k: until for k, until in self.avoided.items() if until > now}
        found: dict[str, frozenset[str]] = {}
        for app, site in self.avoided:
            found[app] = found.get(app, frozenset()) | {site}
        return found, next_at


def unhealthy_after(app: Object | None) -> float | None:
    limit = (((app or {}).get("spec") or {}).get("failover") or {}).get("unhealthyAfterSeconds")
    return None if limit is None or isinstance(limit, bool) else float(limit)


def carried_out(
    desired: dict[str, Object],
    stored: Mapping[str, Object],
    apps: Iterable[Object],
    found: Moves,
    now: float | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Mark the new Assignments that replace lost ones (``failedOverFrom``), give fenced
    ones their epoch, keep both on what is kept (in ``desired``, copies); returns the
    events by application."""
    at = time.time() if now is None else now
    events: dict[str, list[dict[str, str]]] = {}
    status = {a["metadata"]["name"]: a.get("status") or {} for a in apps}
    for app, (gone, new) in _changes(desired, stored).items():
        _keep_marks(desired, stored, app)
        lost = [k for k in gone if stored[k]["spec"]["site"] in found.lost]
        homes = [
            (stored[k]["spec"]["site"], h)
            for k in gone
            if (h := found.homes.get((app, stored[k]["spec"]["site"])))
        ]
        epoch = _next_epoch(stored, app, status.get(app, {}))
        for i, key in enumerate(sorted(new)):
            desired[key] = _marked(desired[key], stored, lost[i] if i < len(lost) else None, epoch)
            epoch += 1
        events[app] = _events(stored, desired, lost, new, homes, found, at)
    for app in {obj["spec"]["application"] for obj in desired.values()} - events.keys():
        _keep_marks(desired, stored, app)
    return {app: found_events for app, found_events in events.items() if found_events}


def _changes(
    desired: Mapping[str, Object], stored: Mapping[str, Object]
) -> dict[str, tuple[list[str], list[str]]]:
    """By application: the stored Assignments going away and the new ones."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for key in stored.keys() - desired.keys():
        found.setdefault(stored[key]["spec"]["application"], ([], []))[0].append(key)
    for key in desired.keys() - stored.keys():
        found.setdefault(desired[key]["spec"]["application"], ([], []))[1].append(key)
    return {app: (sorted(gone), sorted(new)) for app, (gone, new) in found.items()}


def _keep_marks(desired: dict[str, Object], stored: Mapping[str, Object], app: str) -> None:
    """What is kept keeps its epoch and its home (a rendering knows neither)."""
    for key, obj in desired.items():
        before = stored.get(key)
        if before is None or obj["spec"]["application"] != app:
            continue
        marks: dict[str, Any] = {
            k: before["spec"][k] for k in ("epoch", "failedOverFrom") if k in before["spec"]
        }
        if marks and any(obj["spec"].get(k) != v for k, v in marks.items()):
            desired[key] = {**obj, "spec": {**obj["spec"], **marks}}


def _marked(obj: Object, stored: Mapping[str, Object], lost: str | None, epoch: int) -> Object:
    spec = dict(obj["spec"])
    if lost is not None:
        before = stored[lost]["spec"]
        spec["failedOverFrom"] = before.get("failedOverFrom") or before["site"]
    if spec.get("fencing") == "Strict":
        spec["epoch"] = epoch
    return {**obj, "spec": spec}


def _next_epoch(stored: Mapping[str, Object], app: str, status: Mapping[str, Any]) -> int:
    """Higher than every epoch the application's replicas had, stored or recorded."""
    epochs = [
        int(a["spec"].get("epoch") or 0) for a in stored.values() if a["spec"]["application"] == app
    ]
    return max([*epochs, int(status.get("fencingEpoch") or 0)]) + 1


def fencing_epoch(assignments: Iterable[Object]) -> int | None:
    """The highest epoch among an application's Assignments (for its status)."""
    epochs = [int(a["spec"]["epoch"]) for a in assignments if a["spec"].get("epoch")]
    return max(epochs) if epochs else None


def _events(
    stored: Mapping[str, Object],
    desired: Mapping[str, Object],
    lost: list[str],
    new: list[str],
    homes: list[tuple[str, str]],
    found: Moves,
    now: float,
) -> list[dict[str, str]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    to = sorted(desired[k]["spec"]["site"] for k in new)
    made = []
    for key in lost:
        site = stored[key]["spec"]["site"]
        message = failover.why(site, to, now - found.lost[site])
        made.append({"time": stamp, "reason": "FailedOver", "message": message})
    for away, home in homes:
        message = f"failed back from {away} to {home}: {home} healthy for its hold-down"
        made.append({"time": stamp, "reason": "FailedBack", "message": message})
    return made


def _every_site(app: Object) -> bool:
    return ((app.get("spec") or {}).get("placement") or {}).get("mode") == "EverySite"


def _phase(site: Object) -> object:
    return (site.get("status") or {}).get("phase")


def _returns(site: Object) -> tuple[float, ...]:
    """When the site came back, latest last. Stamps are whole seconds, cut down: a
    return may have come up to a second later, and a hold-down must never be short."""
    stamps = (site.get("status") or {}).get("returns") or ()
    return tuple(sorted(float(int(t)) + 1.0 for s in stamps if (t := parse_stamp(s)) is not None))


def _number(value: object, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )
