"""``edgeplane endpoints APP``: what a client in a region (or at a site) is answered for
an application; ``edgeplane dns``: the fleet's authoritative DNS server beside the hub.

``dns`` keeps an endpoint table in step with the hub (``client.mirror`` over Sites and
Assignments, ``traffic.index``) and answers from memory (``traffic.server``): a site
the hub marks Offline, or an instance that stops being Ready, leaves the answers as
soon as the hub's watch says so (docs/traffic.md).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from edgeplane.api.wire import Object
from edgeplane.cli.app import EXIT_USAGE, app, fail, globals_of, handles_errors
from edgeplane.cli.output import cell, out, print_exact
from edgeplane.client.config import resolve
from edgeplane.client.hub import AsyncHubClient
from edgeplane.client.mirror import mirror
from edgeplane.traffic.index import TableIndex
from edgeplane.traffic.locality import Locality, LocalityError, load_locality_file
from edgeplane.traffic.server import DnsServer


@app.command()
@handles_errors
def endpoints(
    ctx: typer.Context,
    application: str = typer.Argument(..., help="The application."),
    region: str | None = typer.Option(None, "--region", help="The client's region."),
    site: str | None = typer.Option(None, "--site", help="The client's site."),
    near: str | None = typer.Option(None, "--near", help="The client's place: LAT,LON."),
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """What a client in a region (or at a site) is answered for an application."""
    lat, lon = _point(near)
    place = {"region": region, "site": site, "lat": lat, "lon": lon}
    with globals_of(ctx).client() as client:
        answer = client.endpoints(application, place)
    if output in ("json", "yaml"):
        print_exact(answer, output)
        return
    where = ", ".join(f"{k} {v}" for k, v in answer["client"].items()) or "nowhere in particular"
    out.print(f"{application}: a client at {where} is answered", markup=False)
    rows = [_row(e, answer["answer"]) for e in answer["endpoints"]]
    grid = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("SITE", "REGION", "ADDRESS", "PORT", "WEIGHT", "HEALTHY", "ANSWERED"):
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(c) for c in row))
    out.print(grid)


def _row(endpoint: dict[str, Any], answered: list[dict[str, Any]]) -> tuple[str, ...]:
    key = (endpoint["site"], endpoint["address"], endpoint["port"])
    tier = next((a["tier"] for a in answered if (a["site"], a["address"], a["port"]) == key), None)
    named = endpoint.get("portName")
    return (
        endpoint["site"],
        endpoint.get("region") or "-",
        endpoint["address"],
        f"{endpoint['port']}" + (f" ({named})" if named else ""),
        str(endpoint["weight"]),
        "yes" if endpoint["healthy"] else "no",
        ("site", "region", "nearest")[tier] if tier is not None else "-",
    )


def _point(near: str | None) -> tuple[float | None, float | None]:
    if near is None:
        return None, None
    try:
        lat, lon = (float(x) for x in near.split(","))
    except ValueError:
        raise fail(
            f"--near {near!r} is not LAT,LON: give two numbers, e.g. 48.85,2.35", EXIT_USAGE
        ) from None
    return lat, lon


class _Feed:
    """What the mirror tells, into the endpoint table."""

    def __init__(self, index: TableIndex) -> None:
        self.index = index
        self._held: dict[str, list[Object]] = {"sites": [], "assignments": []}

    def listed(self, plural: str, objects: Sequence[Object]) -> None:
        # A relist of one kind starts the table again from the latest of both.
        self._held[plural] = list(objects)
        self.index.reset(self._held["sites"], self._held["assignments"])

    def changed(self, plural: str, obj: Object) -> None:
        (self.index.put_site if plural == "sites" else self.index.put_assignment)(obj)

    def deleted(self, plural: str, name: str) -> None:
        (self.index.drop_site if plural == "sites" else self.index.drop_assignment)(name)


@app.command()
@handles_errors
def dns(
    ctx: typer.Context,
    zone: str = typer.Option(..., "--zone", help="The zone answered: <app>.<zone>."),
    listen: str = typer.Option("127.0.0.1:5353", "--listen", help="HOST:PORT (UDP and TCP)."),
    locality: Path | None = typer.Option(
        None, "--locality", help="Client networks -> region/site (YAML or JSON)."
    ),
    ttl: int = typer.Option(5, "--ttl", min=1, max=3600, help="Seconds answers may be cached."),
    answers: int = typer.Option(8, "--answers", min=1, max=64, help="Addresses per answer."),
) -> None:
    """Serve the fleet's DNS beside the hub: healthy endpoints, nearest first."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise fail(f"--listen {listen!r} is not HOST:PORT: e.g. 127.0.0.1:5353", EXIT_USAGE)
    try:
        places = load_locality_file(locality) if locality else Locality(())
    except (LocalityError, OSError) as e:
        raise fail(f"--locality {locality}: {e}", EXIT_USAGE) from None
    g = globals_of(ctx)
    target = resolve(
        g.context, g.server, g.token, path=g.config_file, ca_file=g.certificate_authority
    )
    client = AsyncHubClient(target.server, target.token, verify=target.verify())
    index = TableIndex()
    server = DnsServer(
        zone,
        index.table,
        locality=places,
        ttl=ttl,
        host=host.strip("[]"),
        port=int(port),
        limit=answers,
    )
    asyncio.run(_serve(client, server, index))


async def _serve(client: AsyncHubClient, server: DnsServer, index: TableIndex) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    feed = _Feed(index)
    await server.start()
    out.print(f"edgeplane dns answering on port {server.port} (UDP and TCP)", markup=False)
    tasks = [asyncio.create_task(mirror(client, p, feed, stop)) for p in ("sites", "assignments")]
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and (error := task.exception()) is not None:
                raise error  # a refused token: say so and stop
    finally:
        stopped.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(stopped, *tasks, return_exceptions=True)
        await server.close()
        await client.aclose()
