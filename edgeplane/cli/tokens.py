"""``edgeplane token``: list, revoke and rotate the hub's credentials.

Secrets are never listed: the hub keeps only their hashes. A rotated admin token is
written into the context the CLI used, so the next command keeps working.
"""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from edgeplane.cli.app import app, check_output, globals_of, handles_errors
from edgeplane.cli.output import out, print_exact
from edgeplane.client.config import find_context, load_config, save_config

token_app = typer.Typer(
    help="Credentials: list, revoke, rotate the admin token.", no_args_is_help=True
)
app.add_typer(token_app, name="token")
OUTPUTS = ("text", "json", "yaml")


@token_app.command("list")
@handles_errors
def list_tokens(
    ctx: typer.Context,
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """Every token: id, role, subject, created, expires, used (never the secret)."""
    check_output(output, OUTPUTS)
    with globals_of(ctx).client() as client:
        items = client.list_tokens()
    if output != "text":
        print_exact({"items": items}, output)
        return
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("ID", "ROLE", "SUBJECT", "CREATED", "EXPIRES", "USED"):
        grid.add_column(title, no_wrap=True)
    for item in items:
        expires = str(item.get("expiresAt") or "never")
        if item.get("expired"):
            expires += " (expired)"
        used = f"{item['usedAt']} by {item.get('usedBy')}" if item.get("usedAt") else "-"
        cells = (item.get("id"), item.get("role"), item.get("subject") or "-")
        grid.add_row(
            *(Text(str(c)) for c in cells),
            Text(str(item.get("createdAt"))),
            Text(expires),
            Text(used),
        )
    out.print(grid)


@token_app.command("revoke")
@handles_errors
def revoke(ctx: typer.Context, token_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Revoke a token at once (a site's credential, an unused join token, an admin token)."""
    with globals_of(ctx).client() as client:
        gone = client.revoke_token(token_id)
    whose = " ".join(str(part) for part in (gone.get("role"), gone.get("subject")) if part)
    out.print(f"token {gone.get('id')} ({whose}) revoked", markup=False)


@token_app.command("rotate-admin")
@handles_errors
def rotate_admin(ctx: typer.Context) -> None:
    """Make a new admin token and revoke every older one; the current context (and the
    hub's <data-dir>/admin.token) get the new one."""
    globals_ = globals_of(ctx)
    with globals_.client() as client:
        answer = client.rotate_admin_token()
    path = globals_.config_file
    data = load_config(path)
    name = globals_.context or data.get("current-context")
    if name:
        context = find_context(data, str(name))
        context["token"] = answer["token"]
        contexts = [c if c.get("name") != name else context for c in data["contexts"]]
        data["contexts"] = contexts
        save_config(path, data)
        out.print(
            f'admin token rotated (id {answer["id"]}); context "{name}" updated', markup=False
        )
    else:
        out.print(
            f"admin token rotated (id {answer['id']}); the new token is in the hub's "
            "<data-dir>/admin.token",
            markup=False,
        )
