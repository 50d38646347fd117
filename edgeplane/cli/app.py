"""The ``edgeplane`` command: global options, error handling and exit codes.

Exit codes scripts can rely on: 0 success; 1 the hub refused (bad input, not found,
conflict) or a local error; 2 usage error; 3 the hub is unreachable; 4 not
authorized (missing or wrong token, or not allowed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.markup import escape

from edgeplane.api.kinds import UnknownKind
from edgeplane.cli.manifests import ManifestError
from edgeplane.cli.output import err
from edgeplane.client.config import ConfigError, config_path, resolve
from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.client.hub import HubClient

EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNAUTHORIZED = 1, 2, 3, 4

app = typer.Typer(
    name="edgeplane",
    help="edgeplane: one control plane from the cloud to thousands of edge sites.\n\n"
    "Exit codes: 0 ok, 1 refused or failed, 2 usage, 3 hub unreachable, 4 not authorized.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class Globals:
    context: str | None = None
    server: str | None = None
    token: str | None = None
    config: Path | None = None
    certificate_authority: Path | None = None

    @property
    def config_file(self) -> Path:
        return config_path(self.config)

    def client(self) -> HubClient:
        target = resolve(
            self.context,
            self.server,
            self.token,
            path=self.config_file,
            ca_file=self.certificate_authority,
        )
        return HubClient(target.server, target.token, verify=target.verify())


@app.callback()
def main_options(
    ctx: typer.Context,
    context: str | None = typer.Option(None, "--context", help="Context from the config file."),
    server: str | None = typer.Option(None, "--server", help="Hub URL (env EDGEPLANE_SERVER)."),
    token: str | None = typer.Option(None, "--token", help="Bearer token (env EDGEPLANE_TOKEN)."),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Config file (env EDGEPLANE_CONFIG, default ~/.edgeplane/config.yaml).",
    ),
    certificate_authority: Path | None = typer.Option(
        None,
        "--certificate-authority",
        help="CA file to trust for the hub (env EDGEPLANE_CERTIFICATE_AUTHORITY; default: "
        "the context's certificate-authority-data).",
    ),
) -> None:
    ctx.obj = Globals(context, server, token, config, certificate_authority)


P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def check_output(output: str, known: tuple[str, ...]) -> None:
    """Refuse an unknown ``-o`` as a usage error before anything is asked of the hub."""
    if output not in known:
        raise fail(f"--output {output!r} is not known: use one of {', '.join(known)}", EXIT_USAGE)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn known errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ClientError as e:
            raise fail(e.message, EXIT_UNAUTHORIZED if e.unauthorized else EXIT_ERROR) from e
        except HubUnreachable as e:
            raise fail(str(e), EXIT_UNREACHABLE) from e
        except (ConfigError, ManifestError, UnknownKind) as e:
            raise fail(str(e)) from e

    return wrapper


def globals_of(ctx: typer.Context) -> Globals:
    found: Any = ctx.obj
    return found if isinstance(found, Globals) else Globals()
