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


def age(obj: Object) -> str:
    stamp = obj["metadata"].get("creationTimestamp")
    if not stamp:
        return "-"
    created = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def labels(obj: Object) -> str:
    found = obj["metadata"].get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(found.items())) or "-"


def _rules(obj: Object) -> str:
    return str(len(obj.get("spec", {}).get("rules", [])))


COLUMNS: dict[str, list[Column]] = {
    "Site": [
        ("PHASE", _path("status", "phase")),
        ("REGION", _label("region")),
        ("TIER", _label("tier")),
    ],
    "SiteGroup": [("DESCRIPTION", _path("spec", "description"))],
    "Application": [
        ("MODE", _path("spec", "placement", "mode")),
        ("REPLICAS", _path("spec", "placement", "replicas")),
        ("GENERATION", _path("metadata", "generation")),
    ],
    "Policy": [
        ("SCOPE", _path("spec", "scope")),
        ("ENFORCEMENT", _path("spec", "enforcement")),
        ("RULES", _rules),
    ],
    "Assignment": [
        ("APPLICATION", _path("spec", "application")),
        ("SITE", _path("spec", "site")),
        ("REVISION", _path("spec", "revision")),
        ("PHASE", _path("status", "phase")),
    ],
}
WIDE: dict[str, list[Column]] = {
    "Site": [("JURISDICTION", _label("jurisdiction")), ("RUNTIME", _path("spec", "runtime"))],
    "Application": [("SITEGROUPS", _path("spec", "placement", "siteGroups"))],
    "Assignment": [("REPLICAS", _path("spec", "replicas"))],
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
