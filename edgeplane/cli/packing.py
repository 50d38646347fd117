"""Reproducible tarballs of a directory, for ``artifact push``.

The hub addresses artifacts by sha256, so the same files must always give the same
bytes: members sorted, owners and times cleared, modes reduced to 0644/0755, gzip
without a name or timestamp. Whatever the hub would refuse (a link leading out, a
device, a socket, a name with a control character) is refused here first, naming the
file: the packed result is checked against the same rules the hub and the agents apply
(``api.artifacts``). Their size limits are the hub's to set, and are left to it. No I/O
beyond the directory read and the temporary file written.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from edgeplane.api.artifacts.errors import ArtifactRefused
from edgeplane.api.artifacts.limits import PATH_MAX, ArtifactLimits
from edgeplane.api.artifacts.scan import TarballScan

RULES_ONLY = ArtifactLimits(
    unpacked_bytes=2**62, members=2**62, ratio=2**62, name_bytes=PATH_MAX, depth=2**62
)
"""The rules without the size limits: the hub says how much it takes."""

HUB = "the hub's"

SKIPPED = frozenset({"__pycache__", ".git"})
"""Never part of what runs, and never the same twice (bytecode, a repository's index)."""


class PackError(ValueError):
    """The directory cannot be packed as it is; the message names the file and the fix."""


def members(directory: Path) -> list[Path]:
    """Every file, directory and link under ``directory``, in a stable order."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        found += [Path(root) / name for name in (*dirs, *files)]
    return sorted(found)


def _link_target(path: Path, root: Path) -> str:
    """The link's target relative to its own directory, refused when it leads out.

    Relative, because the hub refuses absolute targets; resolved, so a chain of links
    or a ``..`` detour that stays inside still packs."""
    target = path.resolve()
    if not target.is_relative_to(root):
        raise PackError(
            f"{path} links outside the directory (to {os.readlink(path)}): "
            "copy the file in, or push a tarball you built"
        )
    return os.path.relpath(target, path.parent.resolve())


def _kind_problem(path: Path) -> str | None:
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    return f"{path} is not a file, directory or link (a device, fifo or socket): remove it"


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    # Only the executable bit matters to a workload; umasks differ between machines.
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def _add(tar: tarfile.TarFile, path: Path, directory: Path, root: Path) -> None:
    if problem := _kind_problem(path):
        raise PackError(problem)
    info = _normalised(tar.gettarinfo(str(path), path.relative_to(directory).as_posix()))
    if info.issym():
        info.linkname = _link_target(path, root)
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def pack(directory: Path) -> BinaryIO:
    """The directory as a reproducible .tar.gz in a temporary file, positioned at 0."""
    found = members(directory)
    if not found:
        raise PackError(f"{directory} is empty: put the program's files in it")
    root = directory.resolve()
    # Not a with block: the open file is the result; the caller closes (and so removes) it.
    packed = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path in found:
                _add(tar, path, directory, root)
        packed.seek(0)
        _check(directory, packed)
    except BaseException:
        packed.close()
        raise
    packed.seek(0)
    return packed


def _check(directory: Path, packed: BinaryIO) -> None:
    scan = TarballScan(RULES_ONLY)
    try:
        while chunk := packed.read(1024 * 1024):
            scan.check(chunk)
        scan.finish()
    except ArtifactRefused as e:
        raise PackError(f"{directory}: the hub would refuse it: {e.explain(HUB)}") from e


def open_artifact(path: Path) -> BinaryIO:
    """What to upload for PATH: a directory packed, or a .tar.gz/.tgz file as it is."""
    if path.is_dir():
        return pack(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        tarball = open(path, "rb")  # noqa: SIM115 - the open file is the result
        try:
            _check(path, tarball)
        except BaseException:
            tarball.close()
            raise
        tarball.seek(0)
        return tarball
    if path.exists():
        raise PackError(f"{path}: push a directory or a .tar.gz/.tgz file")
    raise PackError(f"{path} does not exist: give a directory or a .tar.gz/.tgz file")
