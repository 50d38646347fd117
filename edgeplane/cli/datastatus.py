"""``edgeplane data status``: each site's data home as its agent last reported it
(``Site.status.data``): per stream the records and bytes waiting, the oldest unsent
record's age, the rate and records sent, drops by reason; per site the uplink's
failures and last error. Neighbours: ``cli.data`` (records), ``agent.data`` (reports).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from edgeplane.cli.app import check_output, globals_of, handles_errors
from edgeplane.cli.data import data_app
from edgeplane.cli.output import cell, out, print_exact

OUTPUTS = ("table", "json", "yaml")
COLUMNS = ("SITE", "STREAM", "BACKLOG", "BYTES", "OLDEST", "RATE/S", "SENT", "DROPPED", "UPLINK")


def rows(sites: list[dict[str, Any]], stream: str | None) -> list[dict[str, Any]]:
    """One row per (site, stream) a site reported, sorted; ``stream`` narrows them."""
    found = []
    for site in sites:
        data = (site.get("status") or {}).get("data") or {}
        uplink = (
            "ok"
            if not data.get("failures")
            else f"{data['failures']} failed: {data.get('lastError', '')}"
        )
        for s in data.get("streams") or ():
            if stream is None or s.get("name") == stream:
                found.append({"site": site["metadata"]["name"], **s, "uplink": uplink})
    return sorted(found, key=lambda r: (r["site"], str(r.get("name"))))


def _table(found: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for r in found:
        oldest = r.get("oldestUnsentSeconds")
        dropped = ",".join(f"{k}={v}" for k, v in sorted((r.get("dropped") or {}).items()))
        table.add_row(
            cell(r["site"]),
            cell(str(r.get("name"))),
            str(r.get("backlogRecords", 0)),
            str(r.get("backlogBytes", 0)),
            "-" if oldest is None else f"{oldest:g}s",
            "-" if r.get("rateRecordsPerSecond") is None else f"{r['rateRecordsPerSecond']:g}",
            str(r.get("sentRecords", 0)),
            cell(dropped or "-"),
            cell(r["uplink"]),
        )
    return table


@data_app.command("status")
@handles_errors
def status(
    ctx: typer.Context,
    stream: str | None = typer.Argument(None, help="Only this DataStream."),
    site: str | None = typer.Option(None, "--site", help="Only this site."),
    output: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
) -> None:
    """What waits at each site, and how fast it goes home (as the agents last reported)."""
    check_output(output, OUTPUTS)
    with globals_of(ctx).client() as client:
        sites = [client.get("sites", site)] if site else client.list_all("sites")
    found = rows([dict(s) for s in sites], stream)
    if output != "table":
        print_exact({"items": found}, output)
    elif not found:
        typer.echo("No data reported.", err=True)
    else:
        out.print(_table(found))
