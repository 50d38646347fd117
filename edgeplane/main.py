"""The ``edgeplane`` console script: the CLI plus the commands that run servers.

This is the composition root, outside the layers: it is the one module that joins
the front end (``cli``) and the hub.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from edgeplane.cli import app
from edgeplane.cli.app import globals_of
from edgeplane.client.config import add_context
from edgeplane.hub.app import HubSettings
from edgeplane.hub.auth import ADMIN_TOKEN_FILE
from edgeplane.hub.server import serve


@app.command()
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
) -> None:
    """Run a hub in the foreground (Ctrl-C stops it)."""
    config_file = globals_of(ctx).config_file

    def remember(token: str, server: str) -> None:
        add_context(config_file, "local", server, token)
        print(f'CLI context "local" written to {config_file}')

    # A hub restarted on another address keeps its token: point "local" at it again,
    # leaving whichever context the user made current.
    token_file = data_dir / ADMIN_TOKEN_FILE
    if token_file.exists():
        token = token_file.read_text().strip()
        add_context(config_file, "local", f"http://{listen}", token, make_current=False)
    settings = HubSettings(
        data_dir=data_dir,
        listen=listen,
        database_url=database_url,
        max_artifact_bytes=max_artifact_bytes,
    )
    serve(settings, remember)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def agent(ctx: typer.Context) -> None:
    """Run a site agent: --hub URL --join TOKEN --name SITE --data-dir DIR (see --help)."""
    # The agent runs as its own small process: exec it, so that it does not carry the
    # CLI's libraries (about 20 MB) for as long as the site lives.
    os.execv(sys.executable, [sys.executable, "-m", "edgeplane.agent", *ctx.args])


def main() -> None:
    app()
