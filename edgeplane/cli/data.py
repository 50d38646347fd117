"""``edgeplane data``: read back the records that sites sent home for a DataStream.

``data query`` pages through a stream's records by site and time (a table, JSON, YAML
or JSON lines); ``data tail`` prints the last ones and, with ``-f``, polls for new
ones. Both read the hub's own sink over ``GET /datastreams/{name}/records``, which
pages forward by id; records a stream sends to NATS or MQTT are not there. Bodies were
written by workloads, so they print escaped (``output.terminal_safe``), one line each.
"""

from __future__ import annotations

import collections
import datetime
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator

import typer
from rich.table import Table

from edgeplane.cli.app import EXIT_USAGE, app, check_output, fail, globals_of, handles_errors
from edgeplane.cli.output import cell, out, print_exact, terminal_safe
from edgeplane.client.answers import Body
from edgeplane.client.hub import HubClient

data_app = typer.Typer(
    help="Data streams: query and tail the records sites sent home.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
OUTPUTS = ("table", "json", "yaml", "jsonl")
PAGE_MAX = 1000
"""The most records the hub answers in one page."""
QUERY_MAX = 100_000
"""The most records ``query`` gathers: all of them are held before printing."""
TAIL_MAX = 10_000
BODY_WIDTH = 60
"""Characters of a body (escaped) in the table; ``-o json`` has it whole."""
_AGO = re.compile(r"([0-9]{1,9})([smhd])")  # fullmatch, ASCII digits only
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)

STREAM = typer.Argument(..., help="The DataStream.")
SITE = typer.Option(None, "--site", help="Only the records of this site.")


def parse_time(text: str, option: str, now: float) -> float:
    """An RFC 3339 time, or a duration back from ``now`` (``30s``, ``10m``, ``2h``,
    ``1d``), as unix seconds; a ValueError naming ``option`` otherwise."""
    value = text.strip()
    if match := _AGO.fullmatch(value):
        return now - int(match[1]) * _UNITS[match[2]]
    if _RFC3339.fullmatch(value):
        try:
            return datetime.datetime.fromisoformat(value.upper()).timestamp()
        except (ValueError, OverflowError):
            pass  # the shape of a time, but no such time: month 13
    raise ValueError(
        f"{option} {text!r}: use an RFC 3339 time like 2026-12-02T10:00:00Z "
        "or a duration back from now like 30s, 10m, 2h or 1d"
    )


def window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """``--since`` and ``--until`` as unix seconds, or a usage error naming the option."""
    now = time.time()
    try:
        start = None if since is None else parse_time(since, "--since", now)
        end = None if until is None else parse_time(until, "--until", now)
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from e
    if start is not None and end is not None and end < start:
        raise fail(f"--until {until!r} is before --since {since!r}: swap them", EXIT_USAGE)
    return start, end


def rfc3339(at: object) -> str:
    """A record's time as RFC 3339 UTC to the millisecond; as the site wrote it when
    that is no time a computer can show."""
    try:
        moment = datetime.datetime.fromtimestamp(float(str(at)), datetime.UTC)
    except (ValueError, OverflowError, OSError):
        return str(at)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_text(record: Body) -> str:
    """The body on one line, escaped; a binary one as ``base64:<its base64>``."""
    body = str(record.get("body", ""))
    return terminal_safe(f"base64:{body}" if record.get("encoding") == "base64" else body)


def shortened(text: str, width: int = BODY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def pages(
    client: HubClient,
    stream: str,
    site: str | None,
    since: float | None = None,
    until: float | None = None,
    after: int = 0,
    limit: int | None = None,
) -> Iterator[Body]:
    """The pages of records after id ``after``, until ``limit`` records (None: all)
    have come or a page is short (the end, for now)."""
    left = limit
    while left is None or left > 0:
        size = PAGE_MAX if left is None else min(PAGE_MAX, left)
        page = client.records(stream, site, since, until, after, size)
        yield page
        if len(page["items"]) < size or page["next"] <= after:
            return
        after = page["next"]
        left = None if left is None else left - len(page["items"])


def records_table(records: Iterable[Body]) -> Table:
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("TIME", "SITE", "SEQ", "PRIORITY"):
        grid.add_column(title, no_wrap=True)
    grid.add_column("BODY", no_wrap=True, overflow="ellipsis")
    for r in records:
        cells = (rfc3339(r.get("at")), r.get("site"), r.get("seq"), r.get("priority"))
        grid.add_row(*(cell(str(c)) for c in cells), cell(shortened(body_text(r))))
    return grid


def show(records: list[Body], output: str) -> None:
    if output in ("json", "yaml"):
        print_exact({"items": records}, output)
    elif output == "jsonl":
        sys.stdout.writelines(json.dumps(r) + "\n" for r in records)  # ensure_ascii escapes
        sys.stdout.flush()
    elif records:
        out.print(records_table(records))
    else:
        typer.echo("No records found.", err=True)


def print_lines(records: Iterable[Body]) -> None:
    """``TIME SITE#SEQ BODY`` a record, flushed at once (``tail -f`` into a pipe)."""
    for r in records:
        site = terminal_safe(str(r.get("site")))
        sys.stdout.write(f"{rfc3339(r.get('at'))} {site}#{r.get('seq')} {body_text(r)}\n")
    sys.stdout.flush()


@data_app.command("query")
@handles_errors
def query(
    ctx: typer.Context,
    stream: str = STREAM,
    site: str | None = SITE,
    since: str | None = typer.Option(
        None, "--since", help="From this time: 2026-12-02T10:00:00Z, or back from now: 10m, 2h."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Up to this time: 2026-12-02T11:00:00Z, or back from now: 5m."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=QUERY_MAX, help="At most this many."),
    output: str = typer.Option("table", "-o", "--output", help="table, json, yaml or jsonl."),
) -> None:
    """Records of a stream, by site and time, in the order the hub stored them.

    A table of TIME SITE SEQ PRIORITY BODY (bodies cut to fit); -o json or yaml has the
    hub's records whole, -o jsonl one JSON object a line."""
    check_output(output, OUTPUTS)
    start, end = window(since, until)
    with globals_of(ctx).client() as client:
        found = pages(client, stream, site, start, end, limit=limit)
        records = [r for page in found for r in page["items"]]
    show(records, output)


@data_app.command("tail")
@handles_errors
def tail(
    ctx: typer.Context,
    stream: str = STREAM,
    site: str | None = SITE,
    lines: int = typer.Option(10, "-n", "--lines", min=0, max=TAIL_MAX, help="The last N."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Then the new ones, until Ctrl-C."),
    interval: float = typer.Option(
        1.0, "--interval", min=0.2, max=3600.0, help="Seconds between asks with -f."
    ),
) -> None:
    """The last records of a stream, a line each: TIME SITE#SEQ BODY.

    With -f, then each new one as it comes (asking every --interval seconds) until
    Ctrl-C."""
    try:
        with globals_of(ctx).client() as client:
            after = _print_last(client, stream, site, lines)
            while follow:
                time.sleep(interval)
                after = _print_after(client, stream, site, after)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _print_last(client: HubClient, stream: str, site: str | None, count: int) -> int:
    """Print the last ``count`` records (the hub pages only forward: keep the last
    ones while reading all); the id to follow from."""
    last: collections.deque[Body] = collections.deque(maxlen=count)
    after = 0
    for page in pages(client, stream, site):
        last.extend(page["items"])
        after = max(after, int(page["next"]))
    print_lines(last)
    return after


def _print_after(client: HubClient, stream: str, site: str | None, after: int) -> int:
    """Print every record after id ``after``; the id to follow from."""
    for page in pages(client, stream, site, after=after):
        print_lines(page["items"])
        after = max(after, int(page["next"]))
    return after
