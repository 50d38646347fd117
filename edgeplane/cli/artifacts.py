"""Commands for artifacts: ``artifact push`` (a directory or a .tar.gz) and
``artifact list``.

A directory is packed reproducibly: members sorted, owners and times cleared, gzip
without a timestamp, so the same files always give the same sha256 and pushing them
again is "unchanged".
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from edgeplane.cli.app import app, fail, globals_of, handles_errors
from edgeplane.cli.output import out, print_exact

artifact_app = typer.Typer(help="Artifacts: the code process workloads run.", no_args_is_help=True)
app.add_typer(artifact_app, name="artifact")
SKIPPED = {"__pycache__", ".git"}


def _members(directory: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        found += [Path(root) / d for d in dirs] + [Path(root) / f for f in sorted(files)]
    return sorted(found)


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def pack(directory: Path) -> bytes:
    """The directory as a reproducible .tar.gz; ValueError for a link leading outside."""
    root = directory.resolve()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(directory):
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise ValueError(
                    f"{path} links outside {directory} (to {os.readlink(path)}): "
                    "copy the file in, or push a tarball you built"
                )
            info = _normalised(tar.gettarinfo(str(path), path.relative_to(directory).as_posix()))
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def read_artifact(path: Path) -> bytes:
    if path.is_dir():
        return pack(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return path.read_bytes()
    if path.exists():
        raise ValueError(f"{path}: push a directory or a .tar.gz/.tgz file")
    raise ValueError(f"{path} does not exist")


@artifact_app.command("push")
@handles_errors
def push(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A directory, or a .tar.gz file."),
    name: str = typer.Option(..., "--name", help="The artifact's name, e.g. demo-service."),
    version: str = typer.Option(..., "--version", help="Its version, e.g. 1.0.0."),
) -> None:
    """Upload code for process workloads; versions never change once pushed."""
    if not version.strip():
        raise typer.BadParameter("--version must not be empty (e.g. 1.0.0)")
    try:
        data = read_artifact(path)
    except (ValueError, OSError) as e:
        raise fail(str(e)) from e
    with globals_of(ctx).client() as client:
        record, created = client.push_artifact(name, version, data)
    result = "created" if created else "unchanged"
    out.print(
        f"artifact {record['name']}:{record['version']} {result} sha256:{record['sha256']} "
        f"({record['size']} bytes)",
        markup=False,
    )


@artifact_app.command("list")
@handles_errors
def list_artifacts(
    ctx: typer.Context,
    output: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
) -> None:
    """The artifacts on the hub."""
    with globals_of(ctx).client() as client:
        items = client.list_artifacts()
    if output in ("json", "yaml"):
        print_exact({"items": items}, output)
        return
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in ("NAME", "VERSION", "SHA256", "SIZE", "CREATED"):
        grid.add_column(title, no_wrap=True)
    for item in items:
        cells = (item["name"], item["version"], item["sha256"][:12], str(item["size"]))
        grid.add_row(*(Text(c) for c in (*cells, item["createdAt"])))
    out.print(grid)
