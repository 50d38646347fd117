"""How the CLI prints objects: kubectl-like tables, exact YAML or JSON, names."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgeplane.api.kinds import API_VERSION, KindInfo
from edgeplane.api.quantity import Quantity

Object = dict[str, Any]
Column = tuple[str, Callable[[Object], str]]

# No emoji codes: object data like ":warning:" must print as written.
out = Console(
    width=None if sys.stdout.isatty() else 250, highlight=False, soft_wrap=False, emoji=False
)
# Errors are one line each, whatever the terminal width, so scripts can grep them.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _label(key: str) -> Callable[[Object], str]:
    return lambda o: str((o["metadata"].get("labels") or {}).get(key, "-"))


def _path(*keys: str) -> Callable[[Object], str]:
    def get(obj: Object) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return "-"
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    return get


def since(stamp: str | None) -> str:
    """How long ago an RFC 3339 time was, kubectl-style (5s, 3m, 2h, 4d)."""
    if not stamp:
        return "-"
    try:
        then = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def age(obj: Object) -> str:
    return since(obj["metadata"].get("creationTimestamp"))


def human_bytes(value: float) -> str:
    """Binary units as Kubernetes writes them: 900, 1.5Ki, 16Gi."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(value) < 1024 or unit == "Ti":
            return f"{value:.0f}{unit}" if unit == "" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return str(value)


def _quantity(text: Any, memory: bool) -> str:
    if text is None:
        return "?"
    try:
        value = Quantity.parse(text).value
    except ValueError:
        return str(text)
    if memory:
        return human_bytes(float(value))
    return f"{value:.1f}".removesuffix(".0")


def _room(resource: str) -> Callable[[Object], str]:
    """``allocatable/capacity`` of a site's cpu or memory."""

    def get(obj: Object) -> str:
        status = obj.get("status") or {}
        capacity = (status.get("capacity") or {}).get(resource)
        if capacity is None:
            return "-"
        left = (status.get("allocatable") or {}).get(resource)
        memory = resource == "memory"
        return f"{_quantity(left, memory)}/{_quantity(capacity, memory)}"

    return get


def _workloads(obj: Object) -> str:
    counts = (obj.get("status") or {}).get("workloads")
    return f"{counts.get('ready', 0)}/{counts.get('assigned', 0)}" if counts else "-"


def _ready(obj: Object) -> str:
    status = obj.get("status") or {}
    if "replicas" not in status:
        return "-"
    return f"{status.get('ready') or 0}/{status['replicas']}"


SITES_WIDTH = 40
"""Room for the SITES cell: a wide fleet must not push AGE off the screen."""


def _sites(obj: Object) -> str:
    """Where an application runs: names while they fit, then how many more (``+3``)."""
    sites = [str(s) for s in (obj.get("status") or {}).get("sites") or []]
    shown: list[str] = []
    for site in sites:
        if shown and len(",".join([*shown, site])) > SITES_WIDTH:
            break
        shown.append(site)
    rest = len(sites) - len(shown)
    return ",".join(shown + ([f"+{rest}"] if rest else [])) or "-"


def _runtime(obj: Object) -> str:
    """The runtime asked for in the spec, else the one the agent reported."""
    spec = _path("spec", "runtime")(obj)
    return spec if spec != "-" else _path("status", "inventory", "runtime")(obj)


def _endpoint(obj: Object) -> str:
    endpoints = (obj.get("status") or {}).get("endpoints") or []
    return str(endpoints[0].get("url") or endpoints[0].get("port")) if endpoints else "-"


def labels(obj: Object) -> str:
    found = obj["metadata"].get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(found.items())) or "-"


def _rules(obj: Object) -> str:
    return str(len(obj.get("spec", {}).get("rules", [])))


COLUMNS: dict[str, list[Column]] = {
    "Site": [
        ("PHASE", _path("status", "phase")),
        ("HEARTBEAT", lambda o: since((o.get("status") or {}).get("lastHeartbeat"))),
        ("CPU", _room("cpu")),
        ("MEMORY", _room("memory")),
        ("WORKLOADS", _workloads),
    ],
    "SiteGroup": [("DESCRIPTION", _path("spec", "description"))],
    "Application": [
        ("MODE", _path("spec", "placement", "mode")),
        ("READY", _ready),
        ("SITES", _sites),
    ],
    "Policy": [
        ("SCOPE", _path("spec", "scope")),
        ("ENFORCEMENT", _path("spec", "enforcement")),
        ("RULES", _rules),
    ],
    "Assignment": [
        ("APPLICATION", _path("spec", "application")),
        ("SITE", _path("spec", "site")),
        ("PHASE", _path("status", "phase")),
        ("READY", _path("status", "ready")),
        ("RESTARTS", _path("status", "restarts")),
        ("ENDPOINT", _endpoint),
    ],
    "Device": [
        ("SITE", _path("spec", "site")),
        ("CLASS", _label("class")),
        ("PROTOCOL", _path("spec", "protocol")),
        ("PHASE", _path("status", "phase")),
    ],
}
WIDE: dict[str, list[Column]] = {
    "Site": [
        ("REGION", _label("region")),
        ("RUNTIME", _runtime),
        ("ADDRESS", _path("status", "address")),
    ],
    "Application": [
        ("UNPLACED", _path("status", "unplaced")),
        ("MESSAGE", _path("status", "message")),
    ],
    "Assignment": [
        ("REVISION", _path("spec", "revision")),
        ("REASON", _path("status", "reason")),
        ("MESSAGE", _path("status", "message")),
    ],
    "Device": [
        ("ADDRESS", _path("spec", "address")),
        ("LAST-SEEN", lambda o: since((o.get("status") or {}).get("lastSeen"))),
        ("MESSAGE", _path("status", "message")),
    ],
}


def columns(info: KindInfo, wide: bool) -> list[Column]:
    cols: list[Column] = [("NAME", lambda o: str(o["metadata"]["name"]))]
    cols += COLUMNS.get(info.kind, [])
    if wide:
        cols += [*WIDE.get(info.kind, []), ("LABELS", labels)]
    return [*cols, ("AGE", age)]


def table(info: KindInfo, items: list[Object], wide: bool, prefix: Column | None = None) -> Table:
    cols = ([prefix] if prefix else []) + columns(info, wide)
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title, _ in cols:
        grid.add_column(title, no_wrap=True)
    for obj in items:
        grid.add_row(*(Text(get(obj)) for _, get in cols))  # data, never markup
    return grid


def as_list(info: KindInfo, items: list[Object]) -> Object:
    return {"apiVersion": API_VERSION, "kind": f"{info.kind}List", "items": items}


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def print_exact(data: Any, fmt: str) -> None:
    """YAML or JSON straight to stdout: rich would wrap long lines and break the data."""
    sys.stdout.write(dump(data, fmt))
    sys.stdout.flush()


def ref(obj: Object) -> str:
    return f"{str(obj['kind']).lower()}/{obj['metadata']['name']}"


def where_and_how_many(answer: dict[str, Any]) -> tuple[str, int]:
    """The sites of a placement answer (with each one's replicas when Divided), and how
    many replicas that is."""
    parts = answer.get("replicas") or {}
    where = ", ".join(f"{s} ({parts[s]})" if s in parts else s for s in answer["sites"])
    return where or "nowhere", sum(parts.values()) if parts else len(answer["sites"])
