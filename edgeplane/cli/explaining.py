"""``edgeplane explain APP [--site S]``: why an application runs where it does."""

from __future__ import annotations

import typer

from edgeplane.cli.app import app, globals_of, handles_errors
from edgeplane.cli.output import out, print_exact, where_and_how_many


@app.command()
@handles_errors
def explain(
    ctx: typer.Context,
    application: str = typer.Argument(..., help="The application."),
    site: str | None = typer.Option(None, "--site", help="One site's verdict from every check."),
    output: str = typer.Option("text", "-o", "--output", help="text, json or yaml."),
) -> None:
    """Why an application is where it is, and why not elsewhere."""
    with globals_of(ctx).client() as client:
        answer = client.explain(application, site)
    if output in ("json", "yaml"):
        print_exact(answer, output)
        return
    placed, count = where_and_how_many(answer)
    out.print(f"{application}: placed {count}/{answer['wanted']} at {placed}", markup=False)
    for reason in answer["reasons"]:
        out.print(f"  {reason}", markup=False)
    if one := answer.get("site"):
        verdict = "feasible" if one["feasible"] else "not feasible"
        out.print()
        out.print(f"site {one['name']}: {verdict}", markup=False)
        for check in one["checks"]:
            mark = "ok  " if check["passed"] else "FAIL"
            out.print(
                f"  {mark} {check['check']:<11} {check['reason'] or ''}".rstrip(), markup=False
            )
