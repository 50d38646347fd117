"""How the CLI prints objects: kubectl-like tables, exact YAML or JSON, names.

Everything the CLI prints may hold text that sites and workloads wrote (status
messages, addresses, endpoints, logs, names), so this module is also the terminal's
boundary: ``terminal_safe`` makes every control character, escape sequence and
invisible format character visible (ESC prints as ``\\x1b``), and ``out`` and ``err``
apply it to all they render. A site can then neither forge table rows with CR/LF nor
drive the admin's terminal (colours, titles, OSC 52 clipboard writes). ``-o json`` is
escaped by JSON itself; ``-o yaml`` quotes and escapes such strings.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Span, Text

from edgeplane.api.kinds import API_VERSION, KindInfo
from edgeplane.api.quantity import Quantity
from edgeplane.api.wire import ListObject, Object

Column = tuple[str, Callable[[Object], str]]

# Unicode's control (Cc), format (Cf: bidi overrides, zero-width, tags), surrogate (Cs)
# and line/paragraph separator (Zl, Zp) characters as of Unicode 14 (a unit test checks
# the list against unicodedata): none prints as itself, several reorder or hide text.
_UNSAFE_CLASS = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    r"\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(char: str) -> str:
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def terminal_safe(text: str, keep: str = "") -> str:
    """``text`` with each control or invisible format character written as a visible
    escape (``\\x1b``, ``\\n``, ``\\u202e``), except those in ``keep``."""
    if not _UNSAFE.search(text):
        return text  # the common case costs one scan
    return _UNSAFE.sub(lambda m: m[0] if m[0] in keep else _visible(m[0]), text)


def _safe_text(text: Text) -> Text:
    """A rich ``Text`` escaped like ``terminal_safe``, its styles kept."""
    plain = text.plain
    if not _UNSAFE.search(plain):
        return text
    cuts = sorted({i for m in _UNSAFE.finditer(plain) for i in (m.start(), m.end())})
    safe = text.blank_copy()
    for piece in text.divide(cuts):
        if _UNSAFE.fullmatch(piece.plain):
            escaped = Text(terminal_safe(piece.plain))
            escaped.spans = [Span(0, len(escaped), s.style) for s in piece.spans]
            piece = escaped
        safe.append_text(piece)
    return safe


class SafeConsole(Console):
    """A rich console that escapes every text it renders (``terminal_safe``): strings,
    markup and ``Text`` alike, also inside tables. Newlines in data are escaped too, so
    print one line per call where lines are meant."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(terminal_safe(text), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        if isinstance(renderable, Text):
            renderable = _safe_text(renderable)
        return super().render(renderable, options)


def cell(text: str) -> Text:
    """A table cell of data: escaped first, as ``Text`` would silently drop CR and BEL,
    and never read as markup."""
    return Text(terminal_safe(text))


# No emoji codes: object data like ":warning:" must print as written.
out = SafeConsole(
    width=None if sys.stdout.isatty() else 250, highlight=False, soft_wrap=False, emoji=False
)
# Errors are one line each, whatever the terminal width, so scripts can grep them.
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)


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
    """The runtimes asked for in the spec, else the ones the agent reported
    (``process,kubernetes`` for a site running both)."""
    for where in (obj.get("spec") or {}, (obj.get("status") or {}).get("inventory") or {}):
        runtimes = where.get("runtimes") or ([where["runtime"]] if where.get("runtime") else [])
        if runtimes:
            return ",".join(str(r) for r in runtimes)
    return "-"


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
        grid.add_row(*(cell(get(obj)) for _, get in cols))
    return grid


def as_list(info: KindInfo, items: list[Object]) -> ListObject:
    return ListObject(apiVersion=API_VERSION, kind=f"{info.kind}List", items=items)


class _SafeDumper(yaml.SafeDumper):
    """YAML whose strings with control or format characters are double-quoted, so
    YAML's own escapes (``\\e``, ``\\n``) show them and nothing raw reaches a terminal."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _UNSAFE.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SafeDumper.add_representer(str, _string)


def to_yaml(data: Any) -> str:
    """Block YAML in the given key order, safe for a terminal (see ``_SafeDumper``)."""
    return str(yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, default_flow_style=False))


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"  # ensure_ascii escapes every control
    return to_yaml(data)


def print_exact(data: Any, fmt: str) -> None:
    """YAML or JSON straight to stdout: rich would wrap long lines and break the data."""
    sys.stdout.write(dump(data, fmt))
    sys.stdout.flush()


def print_log(text: str) -> None:
    """A workload's log as it was written, but for control characters: lines and tabs
    are kept, everything else (colours, cursor moves, OSC 52) is shown escaped."""
    sys.stdout.write(terminal_safe(text, keep="\n\t"))
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def ref(obj: Object) -> str:
    return f"{str(obj['kind']).lower()}/{obj['metadata']['name']}"


def where_and_how_many(answer: dict[str, Any]) -> tuple[str, int]:
    """The sites of a placement answer (with each one's replicas when Divided), and how
    many replicas that is."""
    parts = answer.get("replicas") or {}
    where = ", ".join(f"{s} ({parts[s]})" if s in parts else s for s in answer["sites"])
    return where or "nowhere", sum(parts.values()) if parts else len(answer["sites"])
