"""What the pages show, worked out from wire objects: rows, filters, pages, counts.

Pure functions (no I/O): ``web.pages`` reads the objects from a ``FleetView`` or the
hub and hands them here; the templates only lay the results out. Filtering and paging
happen here, on the server, so a page of a ten-thousand-site fleet carries one page.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgeplane.api.selectors import SelectorError, parse_selector
from edgeplane.api.wire import Object
from edgeplane.web.maps import MapSite

PAGE_SIZE = 50
PHASES = ("Online", "Offline", "Pending", "Cordoned")
REGION_LABEL = "region"
_SAFE_PHASE = re.compile(r"[A-Za-z]{1,32}")


class FilterError(ValueError):
    """A filter the page cannot apply: the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def phase_of(site: Object) -> str:
    """A site's phase, safe to use as a class name: ``Pending`` until the hub has written
    one (the site has not joined), ``Unknown`` if it is not a word."""
    phase = (site.get("status") or {}).get("phase")
    if phase is None:
        return "Pending"
    return phase if isinstance(phase, str) and _SAFE_PHASE.fullmatch(phase) else "Unknown"


def labels_of(obj: Object) -> dict[str, str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def name_of(obj: Object) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def phase_counts(sites: Iterable[Object]) -> dict[str, int]:
    counts = Counter(phase_of(s) for s in sites)
    return {phase: counts.get(phase, 0) for phase in (*PHASES, "Unknown") if counts.get(phase)}


@dataclass(frozen=True)
class SiteFilter:
    selector: str = ""
    phase: str = ""
    region: str = ""
    name: str = ""

    @classmethod
    def of(cls, params: Mapping[str, str]) -> SiteFilter:
        found = cls(
            *(params.get(k, "").strip()[:1024] for k in ("selector", "phase", "region", "name"))
        )
        if found.phase and found.phase not in (*PHASES, "Unknown"):
            raise FilterError("phase", f"phase {found.phase!r}: choose one of {', '.join(PHASES)}")
        try:
            parse_selector(found.selector)
        except SelectorError as e:
            raise FilterError("selector", f"selector: {e}") from e
        return found

    def apply(self, sites: Iterable[Object]) -> list[Object]:
        selector = parse_selector(self.selector)
        name = self.name.lower()
        return [
            s
            for s in sites
            if selector.matches(labels_of(s))
            and (not self.phase or phase_of(s) == self.phase)
            and (not self.region or labels_of(s).get(REGION_LABEL) == self.region)
            and (not name or name in name_of(s).lower())
        ]

    def query(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    pages: int
    total: int


def page_of(items: list[Any], number: int, size: int = PAGE_SIZE) -> Page:
    pages = max(1, math.ceil(len(items) / size))
    number = min(max(1, number), pages)
    return Page(items[(number - 1) * size : number * size], number, pages, len(items))


def page_number(text: str | None) -> int:
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise FilterError("page", f"page {text[:20]!r}: use a page number from 1")
    return max(1, int(text))


def regions(sites: Iterable[Object]) -> list[str]:
    return sorted({r for s in sites if (r := labels_of(s).get(REGION_LABEL))})


def map_sites(sites: Iterable[Object]) -> list[MapSite]:
    """The sites that have a location, as the map aggregates them."""
    found = []
    for site in sites:
        location = (site.get("spec") or {}).get("location") or {}
        lat, lon = location.get("lat"), location.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            found.append(MapSite(name_of(site), float(lat), float(lon), phase_of(site)))
    return found


def age(stamp: object, now: datetime | None = None) -> str:
    """``12s``, ``5m``, ``3h``, ``2d`` since an RFC 3339 time; ``never`` or ``?``."""
    if not isinstance(stamp, str) or not stamp:
        return "never"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def app_counts(app: Object) -> tuple[int, int, int]:
    """(ready, replicas, unplaced) from an Application's status."""
    status = app.get("status") or {}
    return tuple(int(status.get(k) or 0) for k in ("ready", "replicas", "unplaced"))  # type: ignore[return-value]


def reason_histogram(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Explain's reasons ("3 site(s) had untolerated taint") as (reason, count) rows,
    most sites first; a reason without a leading count counts once."""
    rows = []
    for reason in reasons:
        head, _, rest = reason.partition(" ")
        if head.isascii() and head.isdigit() and rest:
            rows.append((rest.removeprefix("site(s) "), int(head)))
        else:
            rows.append((reason, 1))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def stream_totals(sites: Iterable[Object]) -> dict[str, dict[str, float]]:
    """Each DataStream's backlog and rate summed over the sites' last reports."""
    totals: dict[str, dict[str, float]] = {}
    for site in sites:
        data = (site.get("status") or {}).get("data") or {}
        for stream in data.get("streams") or []:
            row = totals.setdefault(
                str(stream.get("name")),
                {"sites": 0, "backlogRecords": 0, "backlogBytes": 0, "rate": 0.0, "oldest": 0.0},
            )
            row["sites"] += 1
            row["backlogRecords"] += float(stream.get("backlogRecords") or 0)
            row["backlogBytes"] += float(stream.get("backlogBytes") or 0)
            row["rate"] += float(stream.get("rateRecordsPerSecond") or 0)
            row["oldest"] = max(row["oldest"], float(stream.get("oldestUnsentSeconds") or 0))
    return totals


def mentions(text: object, name: str) -> bool:
    """Whether a condition's message names an object (as a whole word)."""
    return (
        isinstance(text, str)
        and re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text) is not None
    )


def policy_verdicts(policy: str, apps: Iterable[Object]) -> list[dict[str, str]]:
    """The applications whose conditions report this policy: warnings, reported
    violations, and placements it excluded."""
    rows = []
    for app in apps:
        status = app.get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("status") == "True" and mentions(condition.get("message"), policy):
                rows.append(
                    {
                        "application": name_of(app),
                        "type": str(condition.get("type", "")),
                        "message": str(condition.get("message", "")),
                    }
                )
        if mentions(status.get("message"), policy):
            rows.append(
                {"application": name_of(app), "type": "Placement", "message": status["message"]}
            )
    return rows
