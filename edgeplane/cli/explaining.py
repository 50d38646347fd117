"""``edgeplane explain APP [--site S]``: why an application runs where it does."""

from __future__ import annotations

from typing import Any

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
    if answer.get("source") == "fresh" and answer.get("note"):
        out.print(f"  ({answer['note']})", markup=False)
    _print_autoscaling(answer.get("autoscaling"))
    _print_story(answer.get("story") or [])
    if one := answer.get("site"):
        verdict = "feasible" if one["feasible"] else "not feasible"
        out.print()
        out.print(f"site {one['name']}: {verdict}", markup=False)
        for check in one["checks"]:
            mark = "ok  " if check["passed"] else "FAIL"
            out.print(
                f"  {mark} {check['check']:<11} {check['reason'] or ''}".rstrip(), markup=False
            )


def _print_autoscaling(scaling: dict[str, Any] | None) -> None:
    """The autoscaler's last decision and the metrics it read."""
    if not scaling:
        return
    out.print()
    wanted = scaling.get("desiredReplicas", "-")
    out.print(f"autoscaling: {wanted} replicas ({scaling.get('reason', '-')})", markup=False)
    if message := scaling.get("message"):
        out.print(f"  {message}", markup=False)
    for m in scaling.get("metrics") or ():
        value = f"{m['value']:g}" if "value" in m else "no value"
        wants = f" -> {m['replicas']}" if "replicas" in m else ""
        out.print(f"  {m['name']}: {value} (target {m['target']:g}){wants}", markup=False)
    if at := scaling.get("lastScaleTime"):
        out.print(f"  last scaled {at}", markup=False)


def _print_story(story: list[dict[str, Any]]) -> None:
    """What the controller decided, oldest first: when, what changed, what it moved."""
    if not story:
        return
    out.print()
    out.print("story:", markup=False)
    for entry in story:
        out.print(f"  {entry['time']}  {entry['trigger']}", markup=False)
        out.print(f"    {_moved(entry)}", markup=False)


def _moved(entry: dict[str, Any]) -> str:
    parts = []
    for sign, key in (("+", "added"), ("-", "removed")):
        names, count = entry.get(key) or [], int(entry.get(f"{key}Count") or 0)
        if count:
            more = f" and {count - len(names)} more" if count > len(names) else ""
            parts.append(f"{sign}{', '.join(names)}{more}")
    parts.append(f"{entry.get('unplaced', 0)} unplaced")
    return "; ".join(parts)
