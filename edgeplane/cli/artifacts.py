"""Commands for artifacts: ``artifact push`` (a directory, packed by ``packing``, or
a .tar.gz sent as it is; streamed, with a progress bar when it is large) and
``artifact list``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from edgeplane.cli.app import EXIT_USAGE, app, check_output, fail, globals_of, handles_errors
from edgeplane.cli.output import cell, err, human_bytes, out, print_exact, since
from edgeplane.cli.packing import PackError, open_artifact
from edgeplane.client.uploads import Progress as ProgressCallback
from edgeplane.client.uploads import upload_size

artifact_app = typer.Typer(help="Artifacts: the code process workloads run.", no_args_is_help=True)
app.add_typer(artifact_app, name="artifact")
OUTPUTS = ("table", "json", "yaml")
PROGRESS_FROM = 4 * 1024 * 1024
"""Smaller uploads finish before a bar would be read."""


@contextlib.contextmanager
def progress_bar(total: int | None, label: str) -> Iterator[ProgressCallback | None]:
    """A bar on stderr for a large upload to a terminal; nothing for scripts and pipes."""
    if not err.is_terminal or (total or 0) < PROGRESS_FROM:
        yield None
        return
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn())
    with Progress(*columns, TransferSpeedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda sent: bar.advance(task, sent)


@artifact_app.command("push")
@handles_errors
def push(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A directory, or a .tar.gz file."),
    name: str = typer.Option(..., "--name", help="The artifact's name, e.g. demo-service."),
    version: str = typer.Option(..., "--version", help="Its version, e.g. 1.0.0."),
) -> None:
    """Upload code for process workloads; versions never change once pushed."""
    if not version.strip():
        raise fail("--version must not be empty: give one, e.g. --version 1.0.0", EXIT_USAGE)
    try:
        data = open_artifact(path)
    except (PackError, OSError) as e:
        raise fail(str(e)) from e
    with (
        data,
        globals_of(ctx).client() as client,
        progress_bar(upload_size(data), f"{name}:{version}") as progress,
    ):
        record, created = client.push_artifact(name, version, data, progress)
    result = "created" if created else "unchanged"
    out.print(
        f"artifact {record['name']}:{record['version']} {result} sha256:{record['sha256']} "
        f"({record['size']} bytes)",
        markup=False,
    )


@artifact_app.command("list")
@handles_errors
def list_artifacts(
    ctx: typer.Context,
    output: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
) -> None:
    """The artifacts on the hub."""
    check_output(output, OUTPUTS)
    with globals_of(ctx).client() as client:
        items = client.list_artifacts()
    if output in ("json", "yaml"):
        print_exact({"items": items}, output)
        return
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("NAME", "VERSION", "SHA256", "SIZE", "AGE"):
        grid.add_column(title, no_wrap=True)
    for item in items:
        cells = (item["name"], item["version"], item["sha256"][:12], human_bytes(item["size"]))
        grid.add_row(*(cell(str(c)) for c in (*cells, since(item.get("createdAt")))))
    if items:
        out.print(grid)
    else:
        typer.echo("No artifacts found.", err=True)
