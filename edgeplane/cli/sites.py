"""Commands for sites: ``site token`` (join tokens), ``site rotate-credential`` and
``logs`` (a workload's log at a site, fetched through the hub)."""

from __future__ import annotations

import re

import typer

from edgeplane.api.labels import parse_label_pairs
from edgeplane.cli.app import EXIT_USAGE, app, check_output, fail, globals_of, handles_errors
from edgeplane.cli.output import out, print_exact, print_log

site_app = typer.Typer(
    help="Sites: join tokens for new sites, credential rotation.", no_args_is_help=True
)
app.add_typer(site_app, name="site")

_TTL = re.compile(r"([0-9]+)([smhd]?)")  # fullmatch, ASCII digits: not '٣', no final \n
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_SECONDS = 30 * 86400
"""The hub's limit for a join token (docs/agent-protocol.md), checked before asking."""
MAX_OVERLAP_SECONDS = 7 * 86400
"""The hub's limit for a rotation's overlap (hub/tokens.py), checked before asking."""
OUTPUTS = ("text", "json")


def parse_ttl(text: str) -> int:
    """``90``, ``30s``, ``15m``, ``1h``, ``2d`` into seconds."""
    match = _TTL.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"--ttl {text!r}: use seconds or a duration like 30s, 15m, 1h or 2d")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_TTL_SECONDS:
        raise ValueError(f"--ttl {text!r}: a join token lasts at most 30d; make a new one later")
    return seconds


def parse_overlap(text: str) -> int:
    """``--overlap`` like ``--ttl``, at most 7 days."""
    match = _TTL.fullmatch(text.strip())
    seconds = int(match[1]) * _UNITS[match[2]] if match else 0
    if not 0 < seconds <= MAX_OVERLAP_SECONDS:
        raise ValueError(f"--overlap {text!r}: use a duration from 1s to 7d, like 30s, 10m or 1h")
    return seconds


@site_app.command("token")
@handles_errors
def token(
    ctx: typer.Context,
    labels: str = typer.Option("", "--labels", help="Labels of the site: k=v,k2=v2."),
    ttl: str = typer.Option("1h", "--ttl", help="How long the token is good for: 15m, 1h, 2d."),
    output: str = typer.Option("text", "-o", "--output", help="text or json."),
) -> None:
    """Make a single-use join token; an agent trades it for the site's credential."""
    check_output(output, OUTPUTS)
    try:
        pairs, seconds = parse_label_pairs(labels), parse_ttl(ttl)
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from e
    globals_ = globals_of(ctx)
    with globals_.client() as client:
        answer = client.create_join_token(pairs, seconds)
        server = client.server
    if output == "json":
        print_exact(answer, "json")
        return
    out.print(f"join token (single use, expires {answer['expiresAt']}):", markup=False)
    out.print(answer["token"], markup=False, soft_wrap=True)
    out.print()
    # Not on the agent's command line: /proc/<pid>/cmdline is readable by every user.
    out.print(
        "save it to a file only you can read (or set EDGEPLANE_JOIN_TOKEN) and start the "
        "site's agent with:",
        markup=False,
        soft_wrap=True,
    )
    command = f"  edgeplane agent --hub {server} --join-token-file FILE --name SITE --data-dir DIR"
    out.print(command, markup=False, soft_wrap=True)


@site_app.command("rotate-credential")
@handles_errors
def rotate_credential(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site whose credential to replace."),
    overlap: str = typer.Option(
        "10m", "--overlap", help="How long the old credential keeps working: 30s, 10m, 1h."
    ),
) -> None:
    """Give a site a new credential: its agent takes it at its next heartbeat, and the old
    one stops working when the overlap ends (revoke it at once with `token revoke`)."""
    try:
        seconds = parse_overlap(overlap)
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from e
    with globals_of(ctx).client() as client:
        answer = client.rotate_site_credential(site, seconds)
    out.print(str(answer.get("message", "")), markup=False, soft_wrap=True)


@app.command()
@handles_errors
def logs(
    ctx: typer.Context,
    application: str = typer.Argument(..., help="The application."),
    site: str = typer.Option(..., "--site", help="The site it runs at."),
    tail: int = typer.Option(100, "--tail", min=1, max=10_000, help="Lines from the end."),
) -> None:
    """Print the recent log of an application's workload at a site (through the hub)."""
    with globals_of(ctx).client() as client:
        text = client.site_logs(site, application, tail)
    print_log(text)
