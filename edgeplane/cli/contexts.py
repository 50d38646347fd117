"""``edgeplane config``: contexts (server, token and CA) kept in the config file, and
``version``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from edgeplane import __version__
from edgeplane.cli.app import app, fail, globals_of, handles_errors
from edgeplane.cli.output import out
from edgeplane.client.config import (
    add_context,
    find_context,
    load_config,
    read_ca_file,
    save_config,
)
from edgeplane.client.errors import ClientError, HubUnreachable

config_app = typer.Typer(help="Contexts: which hub and token the CLI uses.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("get-contexts")
@handles_errors
def get_contexts(ctx: typer.Context) -> None:
    """List contexts; * marks the current one."""
    data = load_config(globals_of(ctx).config_file)
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("CURRENT", "NAME", "SERVER"):
        grid.add_column(title, no_wrap=True)
    for c in data["contexts"]:
        current = "*" if c.get("name") == data.get("current-context") else ""
        grid.add_row(current, Text(str(c.get("name"))), Text(str(c.get("server"))))
    out.print(grid)


@config_app.command("current-context")
@handles_errors
def current_context(ctx: typer.Context) -> None:
    """Print the current context's name."""
    path = globals_of(ctx).config_file
    name = load_config(path).get("current-context")
    if not name:
        raise fail(
            f"no current context in {path}: pick one with 'edgeplane config use-context NAME'"
        )
    out.print(str(name), markup=False)


@config_app.command("use-context")
@handles_errors
def use_context(ctx: typer.Context, name: str) -> None:
    """Make NAME the current context."""
    path = globals_of(ctx).config_file
    data = load_config(path)
    find_context(data, name)
    data["current-context"] = name
    save_config(path, data)
    out.print(f'Switched to context "{name}".', markup=False)


@config_app.command("set-context")
@handles_errors
def set_context(
    ctx: typer.Context,
    name: str,
    server: str = typer.Option(..., "--server", help="Hub URL, e.g. https://127.0.0.1:8080"),
    token: str | None = typer.Option(None, "--token", help="Bearer token for this hub."),
    certificate_authority: Path | None = typer.Option(
        None,
        "--certificate-authority",
        help="The hub's CA (its <data-dir>/tls/ca.crt), kept in the context.",
    ),
) -> None:
    """Create or replace a context and make it current."""
    ca_pem = read_ca_file(certificate_authority) if certificate_authority else None
    add_context(globals_of(ctx).config_file, name, server.rstrip("/"), token, ca_pem=ca_pem)
    out.print(f'Context "{name}" set.', markup=False)


@app.command()
def version(ctx: typer.Context) -> None:
    """Print the client's version and, when reachable, the hub's."""
    out.print(f"client: {__version__}")
    try:
        with globals_of(ctx).client() as client:
            hub = client.discovery().get("hubVersion", "unknown")
            out.print(f"hub:    {hub} at {client.server}", markup=False)
    except (ClientError, HubUnreachable) as e:
        out.print(f"hub:    not available ({e})", markup=False)
