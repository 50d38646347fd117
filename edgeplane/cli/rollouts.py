"""``edgeplane rollout``: watch a rollout, list an application's revisions, undo, and
pause, resume, promote, abort or approve.

``rollout status APP -w`` draws a progress bar per wave until the rollout ends: exit 0
when it Succeeded, 1 when it was rolled back, aborted or failed, 2 when ``--timeout``
passed first. What it draws is ``cli.rolloutview``'s; the hub's side is
``hub.rollouts`` and the rollout controller.
"""

from __future__ import annotations

import re
import time
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from edgeplane.api.wire import Object
from edgeplane.cli.app import EXIT_USAGE, app, check_output, fail, globals_of, handles_errors
from edgeplane.cli.output import cell, out, print_exact
from edgeplane.cli.rolloutview import history_rows, outcome, rollout_view
from edgeplane.client.hub import HubClient

rollout_app = typer.Typer(
    help="Rollouts: status, history, undo, pause, resume, promote, abort, approve.",
    no_args_is_help=True,
)
app.add_typer(rollout_app, name="rollout")
OUTPUTS = ("text", "json", "yaml")
POLL_SECONDS = 1.0
"""How often ``status -w`` asks the hub: a wave's soak is tens of seconds."""
EXIT_TIMEOUT = EXIT_USAGE
_DURATION = re.compile(r"([0-9]{1,7})([smh]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}

APPLICATION = typer.Argument(..., metavar="APP", help="The application.")


def parse_timeout(text: str) -> float:
    """``90``, ``30s``, ``10m``, ``1h`` into seconds (at least one)."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise fail(f"--timeout {text!r}: use a duration like 90s, 10m or 1h", EXIT_USAGE)
    return float(int(match[1]) * _UNITS[match[2]])


def _rollout_of(obj: Object) -> dict[str, Any] | None:
    found = (obj.get("status") or {}).get("rollout")
    return found if isinstance(found, dict) else None


@rollout_app.command("status")
@handles_errors
def status(
    ctx: typer.Context,
    application: str = APPLICATION,
    watch: bool = typer.Option(False, "-w", "--watch", help="Follow it until it ends."),
    timeout: str = typer.Option("10m", "--timeout", help="How long -w waits: 90s, 10m, 1h."),
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """Where the rollout stands, wave by wave.

    Its phase, each wave's progress, why sites wait. With -w, follow it until it ends:
    exit 0 Succeeded, 1 rolled back, aborted or failed, 2 timed out."""
    check_output(output, OUTPUTS)
    seconds = parse_timeout(timeout)
    with globals_of(ctx).client() as client:
        if not watch:
            obj = client.get("applications", application)
            if output != "text":
                print_exact(_rollout_of(obj) or {}, output)
                return
            out.print(rollout_view(application, _rollout_of(obj)))
            return
        code = _follow(client, application, time.monotonic() + seconds)
    if code == EXIT_TIMEOUT:
        raise fail(f"the rollout of {application} did not end within {timeout}", EXIT_TIMEOUT)
    raise typer.Exit(code)


def _follow(client: HubClient, application: str, deadline: float) -> int:
    """Redraw the rollout until it ends (its exit code) or the deadline passes."""
    obj = client.get("applications", application)
    with Live(rollout_view(application, _rollout_of(obj)), console=out) as live:
        while (code := outcome(obj)) is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            obj = client.get("applications", application)
            live.update(rollout_view(application, _rollout_of(obj)), refresh=True)
    return EXIT_TIMEOUT if code is None else code


@rollout_app.command("history")
@handles_errors
def history(
    ctx: typer.Context,
    application: str = APPLICATION,
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """The application's revisions, newest first.

    When each was made, how many sites run it (Ready/all), and what changed (its
    template's hash, and the fields it changed)."""
    check_output(output, OUTPUTS)
    with globals_of(ctx).client() as client:
        obj = client.get("applications", application)
        revisions = client.list_revisions(application, template=output == "text")
    if output != "text":
        print_exact({"items": revisions}, output)
        return
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("REVISION", "CREATED", "SITES", "CHANGE"):
        grid.add_column(title, no_wrap=True)
    for row in history_rows(revisions, _rollout_of(obj)):
        grid.add_row(*(cell(value) for value in row))
    out.print(grid)


@rollout_app.command("undo")
@handles_errors
def undo(
    ctx: typer.Context,
    application: str = APPLICATION,
    to_revision: int | None = typer.Option(
        None, "--to-revision", min=1, help="The revision to go back to (default: the stable one)."
    ),
) -> None:
    """Go back to a revision (default: the stable one).

    Sets the application's workload, resources and overrides back to the revision's,
    through admission; the rollout of that revision follows as for any change."""
    with globals_of(ctx).client() as client:
        answer = client.rollout_action(application, "undo", to_revision=to_revision)
        _print_warnings(client)
    out.print(
        f"{application}: set back to revision {answer.get('toRevision')}; follow it with "
        f"`edgeplane rollout status {application} -w`",
        markup=False,
    )


def _print_warnings(client: HubClient) -> None:
    for warning in client.warnings:
        out.print(f"warning: {warning}", markup=False)


SAID = {
    "pause": "paused: no more sites are updated until `rollout resume`",
    "resume": "resumed",
    "abort": "aborted: every site goes back to the stable revision",
}


def _act(ctx: typer.Context, application: str, action: str, wave: str | None = None) -> None:
    with globals_of(ctx).client() as client:
        answer = client.rollout_action(application, action, wave=wave)
    what = SAID.get(action) or _wave_said(action, answer, wave)
    out.print(f"{application}: rollout of revision {answer.get('revision')} {what}", markup=False)


def _wave_said(action: str, answer: dict[str, Any], wave: str | None) -> str:
    """The wave acted on: the one named, else the current one (the hub's default)."""
    index, waves = answer.get("wave"), answer.get("waves") or []
    if wave is None and isinstance(index, int) and 0 <= index < len(waves):
        wave = str(waves[index].get("name"))
    return f"{'approved' if action == 'approve' else 'promoted'}: wave {wave or index}"


@rollout_app.command("pause")
@handles_errors
def pause(ctx: typer.Context, application: str = APPLICATION) -> None:
    """Update no more sites (those being updated finish; soak clocks keep running)."""
    _act(ctx, application, "pause")


@rollout_app.command("resume")
@handles_errors
def resume(ctx: typer.Context, application: str = APPLICATION) -> None:
    """Go on after a pause."""
    _act(ctx, application, "resume")


@rollout_app.command("promote")
@handles_errors
def promote(
    ctx: typer.Context,
    application: str = APPLICATION,
    wave: str | None = typer.Option(None, "--wave", help="A wave's name (default: the current)."),
) -> None:
    """Skip a wave's soak: it passes once its sites are Ready."""
    _act(ctx, application, "promote", wave)


@rollout_app.command("abort")
@handles_errors
def abort(ctx: typer.Context, application: str = APPLICATION) -> None:
    """Stop the rollout and put every site back on the stable revision."""
    _act(ctx, application, "abort")


@rollout_app.command("approve")
@handles_errors
def approve(
    ctx: typer.Context,
    application: str = APPLICATION,
    wave: str | None = typer.Option(None, "--wave", help="A wave's name (default: the current)."),
) -> None:
    """Let a wave that requires approval start (default: the current one)."""
    _act(ctx, application, "approve", wave)
