"""Commands over objects: apply, get, describe, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from edgeplane.api.kinds import KindInfo, kind_info
from edgeplane.api.labels import check_label_value
from edgeplane.api.wire import Object
from edgeplane.cli.app import app, check_output, fail, globals_of, handles_errors
from edgeplane.cli.manifests import Manifest, load_raw, load_validated
from edgeplane.cli.output import (
    age,
    as_list,
    columns,
    err,
    out,
    print_exact,
    ref,
    table,
    to_yaml,
    where_and_how_many,
)
from edgeplane.client.answers import next_page
from edgeplane.client.errors import ClientError
from edgeplane.client.hub import HubClient

OUTPUTS = ("table", "wide", "yaml", "json", "name")


def _declared(obj: Object) -> tuple[Any, ...]:
    meta = obj.get("metadata", {})
    return (meta.get("labels") or {}, meta.get("annotations") or {}, obj.get("spec"))


APPLY_ATTEMPTS = 5
"""Reads and writes of one apply: a controller writing the object's status between the
read and the write (409) is no reason to fail, the declared fields are applied again."""


def apply_one(client: HubClient, manifest: Manifest) -> str:
    """Create or update one object; return created, configured or unchanged."""
    for _ in range(APPLY_ATTEMPTS - 1):
        try:
            return _apply_once(client, manifest)
        except ClientError as e:
            if e.status != 409:
                raise
    return _apply_once(client, manifest)


def _apply_once(client: HubClient, manifest: Manifest) -> str:
    info = kind_info(manifest.kind)
    try:
        stored = client.get(info.plural, manifest.name)
    except ClientError as e:
        if e.status != 404:
            raise
        client.create(info.plural, manifest.obj)
        return "created"
    if _declared(stored) == _declared(manifest.obj):
        return "unchanged"
    desired, meta = manifest.obj.copy(), manifest.obj["metadata"].copy()
    meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
    desired["metadata"] = meta
    client.replace(info.plural, desired)
    return "configured"


def dry_run_one(client: HubClient, manifest: Manifest) -> str:
    """What applying would do, storing nothing: where an application would run."""
    if manifest.kind != "Application":
        return "valid (dry run: not sent)"
    answer = client.dry_run(manifest.obj)
    where, count = where_and_how_many(answer)
    reasons = "".join(f"; {r}" for r in answer["reasons"])
    return f"would run at {where} ({count}/{answer['wanted']}{reasons}) (dry run)"


@app.command()
@handles_errors
def apply(
    ctx: typer.Context,
    filename: list[str] = typer.Option(..., "-f", "--filename", help="File, directory or -."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Store nothing: validate, and show where applications would run."
    ),
) -> None:
    """Create or update objects from YAML; prints created, configured or unchanged."""
    manifests = load_validated(filename)
    with globals_of(ctx).client() as client:
        for manifest in manifests:
            try:
                result = dry_run_one(client, manifest) if dry_run else apply_one(client, manifest)
            except ClientError as e:
                # The hub's own checks (admission, conflicts) say what; add where from.
                raise ClientError(e.status, e.reason, f"{manifest.source}: {e}", e.field) from e
            out.print(f"{ref(manifest.obj)} {result}", markup=False)
            for warning in client.warnings:
                err.print(f"Warning: {warning}", markup=False)
            client.warnings.clear()


@app.command()
@handles_errors
def get(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="Kind, plural or short name (sites, apps, sg, ...)."),
    name: str | None = typer.Argument(None),
    selector: str | None = typer.Option(None, "-l", "--selector", help="Label selector."),
    output: str = typer.Option("table", "-o", "--output", help="table, wide, yaml, json, name."),
    watch: bool = typer.Option(False, "-w", "--watch", help="Keep printing changes."),
    site: str | None = typer.Option(
        None, "--site", help="Only what is at this site (devices, assignments)."
    ),
    device_class: str | None = typer.Option(
        None, "--class", help="Only devices of this class (their class label)."
    ),
) -> None:
    """List objects, or show one."""
    check_output(output, OUTPUTS)
    info = kind_info(kind)
    selector = _narrowed(info, selector, site, device_class)
    with globals_of(ctx).client() as client:
        items, rv = _current(client, info, name, selector)
        items = [o for o in items if _at(o, site)]
        _print(info, items, output, single=bool(name) and not watch)
        if watch:
            _follow(client, info, rv, selector, name, output, site)


def _narrowed(
    info: KindInfo, selector: str | None, site: str | None, device_class: str | None
) -> str | None:
    """``selector`` with ``--class``; ``--site`` is checked against ``spec.site`` (a
    Device an operator wrote need not carry the site label)."""
    if site is not None and info.kind not in ("Device", "Assignment"):
        raise fail(f"--site filters devices and assignments, not {info.plural}")
    if device_class is None:
        return selector
    if info.kind != "Device":
        raise fail(f"--class filters devices, not {info.plural}")
    if problem := check_label_value(device_class):
        raise fail(f"--class {device_class!r}: {problem}")
    return ",".join(filter(None, [selector, f"class={device_class}"]))


def _at(obj: Object, site: str | None) -> bool:
    return site is None or (obj.get("spec") or {}).get("site") == site


def _current(
    client: HubClient, info: KindInfo, name: str | None, selector: str | None
) -> tuple[list[Object], str]:
    """The objects to show and the resourceVersion a watch resumes from."""
    if name:
        obj = client.get(info.plural, name)
        return [obj], str(obj["metadata"]["resourceVersion"])
    page = client.list(info.plural, selector)
    items, rv = page["items"], str(page["metadata"]["resourceVersion"])
    while token := next_page(page):
        page = client.list(info.plural, selector, continue_=token)
        items += page["items"]
    return items, rv


def _print(info: KindInfo, items: list[Object], output: str, single: bool) -> None:
    if output in ("yaml", "json"):
        print_exact(items[0] if single else as_list(info, items), output)
    elif output == "name":
        for obj in items:
            out.print(ref(obj), markup=False)
    elif items:
        out.print(table(info, items, output == "wide"))
    else:
        typer.echo(f"No {info.plural} found.", err=True)


def _follow(
    client: HubClient,
    info: KindInfo,
    rv: str,
    selector: str | None,
    name: str | None,
    output: str,
    site: str | None = None,
) -> None:
    try:
        for event in client.watch(info.plural, rv, selector):
            obj = event["object"]
            other = (name and obj["metadata"]["name"] != name) or not _at(obj, site)
            if event["type"] in ("BOOKMARK", "ERROR") or other:
                if event["type"] == "ERROR":
                    error: Mapping[str, object] = obj  # a Status, not an Object
                    raise fail(str(error.get("message")))
                continue
            if output in ("yaml", "json"):
                print_exact(event, output)
            else:
                cells = [get(obj) for _, get in columns(info, output == "wide")]
                out.print("  ".join([event["type"], *cells]), markup=False)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
@handles_errors
def describe(ctx: typer.Context, kind: str, name: str) -> None:
    """Show one object in detail: metadata, spec, status and conditions."""
    info = kind_info(kind)
    with globals_of(ctx).client() as client:
        obj = client.get(info.plural, name)
    meta = obj["metadata"]
    lines = [
        f"Name:               {meta['name']}",
        f"Kind:               {obj['kind']}",
        f"Labels:             {_pairs(meta.get('labels'))}",
        f"Annotations:        {_pairs(meta.get('annotations'))}",
        f"UID:                {meta.get('uid', '-')}",
        f"Resource version:   {meta.get('resourceVersion', '-')}",
        f"Generation:         {meta.get('generation', '-')}",
        f"Created:            {meta.get('creationTimestamp', '-')} ({age(obj)} ago)",
        "Spec:",
        *_indented(obj.get("spec") or {}),
        "Status:",
        *_indented({k: v for k, v in (obj.get("status") or {}).items() if k != "conditions"}),
    ]
    conditions = (obj.get("status") or {}).get("conditions") or []
    lines.append("Conditions:" + ("" if conditions else " <none>"))
    lines += [
        f"  {c.get('type')}={c.get('status')}  {c.get('reason') or ''}  {c.get('message') or ''}"
        for c in conditions
    ]
    for line in lines:  # one per call: the console escapes newlines inside data
        out.print(line, markup=False, highlight=False)


def _pairs(mapping: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or "-"


def _indented(data: dict[str, Any]) -> list[str]:
    if not data:
        return ["  <none>"]
    return [f"  {line}" for line in to_yaml(data).rstrip().splitlines()]


@app.command()
@handles_errors
def delete(
    ctx: typer.Context,
    kind: str | None = typer.Argument(None),
    name: str | None = typer.Argument(None),
    filename: list[str] | None = typer.Option(None, "-f", "--filename"),
    ignore_not_found: bool = typer.Option(False, "--ignore-not-found"),
) -> None:
    """Delete objects by kind and name, or those in files."""
    if filename:
        targets = [(kind_info(m.kind), m.name) for m in load_raw(filename)]
    elif kind and name:
        targets = [(kind_info(kind), name)]
    else:
        raise fail("give KIND NAME or -f FILE", 2)
    with globals_of(ctx).client() as client:
        for info, target in targets:
            try:
                client.delete(info.plural, target)
            except ClientError as e:
                if e.status == 404 and ignore_not_found:
                    continue
                raise
            out.print(f"{info.singular}/{target} deleted", markup=False)
