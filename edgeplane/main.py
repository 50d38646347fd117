"""The ``edgeplane`` console script: the CLI plus the commands that run servers.

This is the composition root, outside the layers: it is the one module that joins
the front end (``cli``) and the hub.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import typer

from edgeplane.api.artifacts.limits import parse_limits
from edgeplane.cli import app
from edgeplane.cli.app import EXIT_USAGE, fail, globals_of
from edgeplane.client.config import add_context
from edgeplane.hub.__main__ import add_tuning_arguments, tuning
from edgeplane.hub.app import HubSettings
from edgeplane.hub.auth import ADMIN_TOKEN_FILE
from edgeplane.hub.oidc import OidcError
from edgeplane.hub.server import Ready, serve
from edgeplane.hub.tls import TlsError, TlsOptions
from edgeplane.web.app import create_dashboard


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def hub(
    ctx: typer.Context,
    data_dir: Path = typer.Option(
        Path(".edgeplane"), "--data-dir", help="Where the hub keeps its data."
    ),
    listen: str = typer.Option("127.0.0.1:8080", "--listen", help="HOST:PORT to serve on."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="postgresql+asyncpg://... (default: SQLite in the data dir)."
    ),
    max_artifact_bytes: int = typer.Option(
        256 * 1024 * 1024, "--max-artifact-bytes", help="The largest artifact accepted."
    ),
    artifact_limit: list[str] = typer.Option(
        [], "--artifact-limit", help="KEY=N: one artifact limit (see docs/security.md)."
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Serve this certificate."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The key of --tls-cert."),
    client_ca: Path | None = typer.Option(
        None, "--client-ca", help="Verify client certificates (optional) against this CA."
    ),
    tls_san: list[str] = typer.Option(
        [], "--tls-san", help="Extra DNS name or IP of the hub's own serving certificate."
    ),
    plain_http: bool = typer.Option(
        False, "--plain-http", help="Serve plain HTTP (a WARNING off loopback)."
    ),
    no_dashboard: bool = typer.Option(
        False, "--no-dashboard", help="Do not serve the web dashboard at /ui."
    ),
    audit_log: Path | None = typer.Option(
        None, "--audit-log", help="The audit log's file (default <data-dir>/audit.log)."
    ),
) -> None:
    """Run a hub in the foreground (Ctrl-C stops it). It serves HTTPS with its own CA
    (in <data-dir>/tls) unless given --tls-cert/--tls-key or --plain-http. It also takes
    the timings and limits of docs/security.md (--site-rate N, --head-timeout S, ...)."""
    config_file = globals_of(ctx).config_file

    def remember(ready: Ready) -> None:
        # A restarted hub (maybe on another address) keeps its token: point "local" at
        # it again, leaving whichever context the user made current.
        token = ready.new_admin_token or (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        first = ready.new_admin_token is not None
        add_context(config_file, "local", ready.server, token, first, ready.ca_pem)
        if first:
            print(f'CLI context "local" written to {config_file}', flush=True)

    try:
        artifact_limits = parse_limits(artifact_limit)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--artifact-limit") from e
    try:
        tuned = tuning(_tuning_parser().parse_args(ctx.args))
    except OidcError as e:
        raise fail(str(e), EXIT_USAGE) from e
    settings = HubSettings(
        data_dir=data_dir,
        listen=listen,
        database_url=database_url,
        audit_log=audit_log or data_dir / "audit.log",
        max_artifact_bytes=max_artifact_bytes,
        artifact_limits=artifact_limits,
        **tuned,
    )
    tls = TlsOptions(tls_cert, tls_key, client_ca, tuple(tls_san), plain_http)
    try:
        serve(settings, remember, tls, None if no_dashboard else create_dashboard)
    except TlsError as e:
        raise fail(str(e)) from e


def _tuning_parser() -> argparse.ArgumentParser:
    """The flags ``edgeplane hub`` shares with ``python -m edgeplane.hub``; anything else
    is a usage error (exit 2) naming it."""
    parser = argparse.ArgumentParser(prog="edgeplane hub", add_help=False)
    add_tuning_arguments(parser)
    return parser


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def agent(ctx: typer.Context) -> None:
    """Run a site agent: --hub URL --join-token-file FILE --name SITE --data-dir DIR."""
    # The agent runs as its own small process: exec it, so that it does not carry the
    # CLI's libraries (about 20 MB) for as long as the site lives.
    os.execv(sys.executable, [sys.executable, "-m", "edgeplane.agent", *ctx.args])


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sim(ctx: typer.Context) -> None:
    """Run a fleet simulator: --hub URL --token-file FILE --sites N (see docs/sim.md)."""
    # Its own process, as the agent: the CLI's libraries would only cost it memory.
    os.execv(sys.executable, [sys.executable, "-m", "edgeplane.sim", *ctx.args])


def main() -> None:
    app()
