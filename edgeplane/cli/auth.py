"""``edgeplane auth can-i VERB KIND [NAME]`` and ``auth whoami``: what this token may
do, asked of the hub (the table its middleware checks, ``hub.roles``);
``edgeplane token create``: a user token with a role; ``edgeplane audit verify``: is
the audit log's hash chain whole (``edgeplane.audit``), read from the file itself.
"""

from __future__ import annotations

from pathlib import Path

import typer

from edgeplane.audit import verify
from edgeplane.cli.app import (
    EXIT_ERROR,
    EXIT_USAGE,
    app,
    check_output,
    fail,
    globals_of,
    handles_errors,
)
from edgeplane.cli.output import out, print_exact
from edgeplane.cli.tokens import OUTPUTS, token_app

auth_app = typer.Typer(help="What this token may do.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")
audit_app = typer.Typer(help="The hub's audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@auth_app.command("can-i")
@handles_errors
def can_i(
    ctx: typer.Context,
    verb: str = typer.Argument(..., help="get, list, watch, create, update, patch, delete."),
    kind: str = typer.Argument(..., help="A kind (applications, sites, ...), or KIND/status."),
    name: str = typer.Argument("", help="One object's name."),
) -> None:
    """Print yes or no (exit 0 or 1), as kubectl does; the role needed follows a no."""
    with globals_of(ctx).client() as client:
        answer = client.can_i(verb, kind, name)
    if answer.get("allowed"):
        out.print("yes", markup=False)
        return
    out.print(f"no (needs role {answer.get('needs')}; yours: {answer.get('role')})", markup=False)
    raise typer.Exit(EXIT_ERROR)


@auth_app.command("whoami")
@handles_errors
def whoami(ctx: typer.Context) -> None:
    """The subject and role of this context's token."""
    with globals_of(ctx).client() as client:
        answer = client.whoami()
    out.print(f"{answer.get('subject')} (role {answer.get('role')})", markup=False)


@token_app.command("create")
@handles_errors
def create_token(
    ctx: typer.Context,
    subject: str = typer.Option(..., "--subject", help="Who holds it: a person or a service."),
    role: str = typer.Option(..., "--role", help="viewer, operator or admin."),
    ttl: int | None = typer.Option(None, "--ttl", help="Seconds until it expires (60 up)."),
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """A token for a user or service account; its secret is shown this once."""
    check_output(output, OUTPUTS)
    with globals_of(ctx).client() as client:
        answer = client.create_token(subject, role, ttl)
    if output != "text":
        print_exact(answer, output)
        return
    expires = answer.get("expiresAt") or "never"
    out.print(
        f"token {answer.get('id')} for {subject} (role {role}, expires {expires}):\n"
        f"{answer.get('token')}\nit is shown only now: keep it in a secret store",
        markup=False,
    )


@audit_app.command("verify")
@handles_errors
def verify_log(
    ctx: typer.Context,
    path: Path = typer.Argument(
        Path(".edgeplane/audit.log"), help="The audit log (the hub's <data-dir>/audit.log)."
    ),
    against_hub: bool = typer.Option(
        False, "--against-hub", help="Also check the last entry is the hub's (none deleted)."
    ),
) -> None:
    """Walk the hash chain: exit 0 when whole, 1 naming the first bad entry."""
    if not path.is_file():
        raise fail(f"{path}: no such file: give the hub's <data-dir>/audit.log", EXIT_USAGE)
    verdict = verify(path)
    if verdict.problem:
        raise fail(
            f"{path}: line {verdict.line}: {verdict.problem} "
            f"({verdict.entries} entries before it are whole)"
        )
    if against_hub:
        with globals_of(ctx).client() as client:
            head = client.audit_head()
        if (head.get("seq"), head.get("hash")) != (verdict.head.seq, verdict.head.hash):
            raise fail(
                f"{path}: ends at entry {verdict.head.seq}, the hub's log at entry "
                f"{head.get('seq')}: entries were deleted from the end, or this is another "
                "hub's log"
            )
    out.print(
        f"{path}: {verdict.entries} entries, chain whole; last {verdict.head.seq} "
        f"{verdict.head.hash[:16]}",
        markup=False,
    )
