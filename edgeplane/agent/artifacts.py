"""The site's artifact cache: content-addressed tarballs, downloaded once, checked
against the sha256 the hub recorded, unpacked by hand into ``<dir>/<sha256>/``.

The agent supplies ``fetch`` (a download from the hub); the cache knows nothing of
HTTP. A directory named for its sha256 exists only once complete: everything is
unpacked (and fsynced) in a temporary directory that is then renamed into place, so
an agent killed midway leaves only temporary files, which ``gc`` clears.

The site does not trust the hub's disk: the download is bounded, and the tarball is
checked again against the artifact rules and limits (``api.artifacts``) while it is
unpacked. ``tarfile`` does not extract (its filters have known bypasses in this
Python): every member is written here, under directories opened one component at a
time with ``O_NOFOLLOW``, files created with ``O_EXCL``, and symbolic links made last,
once the whole tree has been judged, so no member can write or point outside.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from edgeplane.agent.errors import AgentError
from edgeplane.api.artifacts.errors import ArtifactRefused
from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.api.artifacts.names import name_problem, version_problem
from edgeplane.api.artifacts.scan import Entry, TarballScan
from edgeplane.api.artifacts.stream import Kind
from edgeplane.api.artifacts.tree import Path as MemberPath

Fetch = Callable[[str, str], AsyncIterator[bytes]]
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMP = ".tmp-"
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
"""The largest download, as the hub's default ``--max-artifact-bytes``."""

REMEMBERED = 256
"""Refused digests remembered, so a hostile artifact is not fetched again and again."""

READ = 1024 * 1024
WHO = "the agent's"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ArtifactError(AgentError):
    """An artifact failed its check or could not be unpacked; the message names it."""


class ArtifactCache:
    def __init__(
        self,
        directory: Path,
        fetch: Fetch,
        limits: ArtifactLimits | None = None,
        max_bytes: int = MAX_ARTIFACT_BYTES,
    ) -> None:
        self.directory, self._fetch = directory, fetch
        self.limits, self.max_bytes = limits or ArtifactLimits(), max_bytes
        self._inflight: dict[str, asyncio.Task[Path]] = {}
        self._refused: OrderedDict[str, str] = OrderedDict()

    async def ensure(self, name: str, version: str, sha256: str) -> Path:
        """The directory the artifact is unpacked in, downloading it first if needed.
        Concurrent calls for one sha256 share one download."""
        if problem := name_problem(name) or version_problem(version):
            raise ArtifactError(f"artifact {name!r}:{version!r}: {problem}")
        if not _SHA256.fullmatch(sha256):
            raise ArtifactError(f"artifact {name}:{version}: {sha256!r} is not a sha256 digest")
        if refused := self._refused.get(sha256):
            raise ArtifactError(refused)
        final = self.directory / sha256
        if final.is_dir():
            return final
        task = self._inflight.get(sha256)
        if task is None:
            task = asyncio.create_task(self._install(name, version, sha256))
            self._inflight[sha256] = task
            task.add_done_callback(lambda _: self._inflight.pop(sha256, None))
        # One caller giving up must not cancel the download the others wait for.
        return await asyncio.shield(task)

    def gc(self, keep: set[str]) -> None:
        """Delete unpacked artifacts whose sha256 is not in ``keep``, and leftovers of
        interrupted downloads (but not those in flight)."""
        for entry in self._garbage(keep):
            _remove(entry)

    async def collect(self, keep: set[str]) -> None:
        """``gc`` with the removal off the event loop (an unpacked artifact may hold
        50,000 files). What goes is decided here, on the loop, so that a download
        started meanwhile is never taken for a leftover."""
        garbage = self._garbage(keep)
        if garbage:
            await asyncio.to_thread(_remove_all, garbage)

    def _garbage(self, keep: set[str]) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [
            entry
            for entry in self.directory.iterdir()
            if entry.name not in keep
            and not any(entry.name.startswith(f"{_TEMP}{s}") for s in self._inflight)
            and (entry.name.startswith(_TEMP) or _SHA256.fullmatch(entry.name))
        ]

    async def _install(self, name: str, version: str, sha256: str) -> Path:
        label = f"artifact {name}:{version}"
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = self.directory / f"{_TEMP}{sha256}-{uuid.uuid4().hex[:8]}"
        archive, unpacked = stem.with_suffix(".tar.gz"), stem.with_suffix(".d")
        try:
            await self._download(label, name, version, sha256, archive)
            try:
                await asyncio.to_thread(unpack, label, archive, unpacked, self.limits)
            except ArtifactError as e:
                self._remember(sha256, str(e))
                raise
            final = self.directory / sha256
            try:
                os.replace(unpacked, final)
            except OSError:
                if not final.is_dir():  # else another agent process finished first
                    raise
            return final
        finally:
            _remove(archive)
            _remove(unpacked)

    def _remember(self, sha256: str, message: str) -> None:
        # The same digest is refused the same way every time: never fetch it again.
        self._refused[sha256] = message
        while len(self._refused) > REMEMBERED:
            self._refused.popitem(last=False)

    async def _download(self, label: str, name: str, version: str, sha256: str, to: Path) -> None:
        digest, size = hashlib.sha256(), 0
        # Chunk-sized writes to local disk: cheap next to the network wait between them.
        with open(to, "wb") as f:  # noqa: ASYNC230
            async for chunk in self._fetch(name, version):
                size += len(chunk)
                if size > self.max_bytes:
                    raise ArtifactError(
                        f"{label}: the download is over the limit of {self.max_bytes} bytes: "
                        "raise the agent's --max-artifact-bytes"
                    )
                digest.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if digest.hexdigest() != sha256:
            raise ArtifactError(
                f"{label}: sha256 mismatch: expected {sha256}, got {digest.hexdigest()} "
                f"after {size} bytes (a truncated or altered download); it will be fetched again"
            )


def unpack(label: str, archive: Path, to: Path, limits: ArtifactLimits | None = None) -> None:
    """Unpack a gzip tarball into the new directory ``to``, member by member. One
    refused member refuses the whole artifact: a half-unpacked program is worse than
    none (the caller removes ``to``)."""
    to.mkdir()
    os.chmod(to, 0o755)
    root = os.open(to, _DIR_FLAGS)
    try:
        _Unpacker(root).run(archive, TarballScan(limits or ArtifactLimits(), want_data=True))
    except ArtifactRefused as e:
        raise ArtifactError(f"{label}: refused: {e.explain(WHO)}") from e
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{label}: cannot unpack: {e}") from e
    finally:
        os.close(root)


class _Unpacker:
    """Writes the members a scan admits under one directory (its open ``root``)."""

    def __init__(self, root: int) -> None:
        self._root = root
        self._parent: tuple[MemberPath, int] | None = None  # the last directory opened
        self._file: int | None = None
        self._symlinks: list[tuple[MemberPath, str]] = []

    def run(self, archive: Path, scan: TarballScan) -> None:
        try:
            with open(archive, "rb") as source:
                while chunk := source.read(READ):
                    for event in scan.feed(chunk):
                        if isinstance(event, Entry):
                            self._begin(event)
                        else:
                            self._write(event)
            self._end_file()
            scan.finish()  # every link judged against the final tree, before any is made
            for path, target in self._symlinks:
                os.symlink(target, path[-1], dir_fd=self._directory(path[:-1]))
        finally:
            self._end_file()
            if self._parent is not None:
                os.close(self._parent[1])

    def _begin(self, entry: Entry) -> None:
        self._end_file()
        path, header = entry.path, entry.header
        if not path:
            return  # "./": the root itself
        if header.kind is Kind.DIR:
            self._directory(path)  # made, and kept open for the files that follow
        elif header.kind is Kind.FILE:
            mode = 0o755 if header.mode & 0o111 else 0o644  # never setuid, never writable
            fd = os.open(path[-1], _FILE_FLAGS, 0o600, dir_fd=self._directory(path[:-1]))
            os.fchmod(fd, mode)
            self._file = fd
        elif header.kind is Kind.HARDLINK:
            source = entry_path(header.linkname)
            source_dir = self._open(source[:-1])
            try:
                os.link(
                    source[-1],
                    path[-1],
                    src_dir_fd=source_dir,
                    dst_dir_fd=self._directory(path[:-1]),
                    follow_symlinks=False,
                )
            finally:
                os.close(source_dir)
        else:
            self._symlinks.append((path, header.linkname))

    def _write(self, data: memoryview) -> None:
        assert self._file is not None
        while data:
            data = data[os.write(self._file, data) :]

    def _end_file(self) -> None:
        if self._file is not None:
            fd, self._file = self._file, None
            try:
                # Durable before the rename publishes the directory: after a power cut
                # it must not exist with empty files in it.
                os.fsync(fd)
            finally:
                os.close(fd)

    def _directory(self, path: MemberPath) -> int:
        """``_open``, kept open for the next member (files of one directory come
        together); the descriptor belongs to the unpacker."""
        if self._parent is not None and self._parent[0] == path:
            return self._parent[1]
        fd = self._open(path)
        if self._parent is not None:
            os.close(self._parent[1])
        self._parent = (path, fd)
        return fd

    def _open(self, path: MemberPath) -> int:
        """A new descriptor of directory ``path`` (made when missing), reached one
        component at a time without following any link."""
        fd = os.dup(self._root)
        for part in path:
            fd = _step(fd, part)
        return fd


def entry_path(name: str) -> MemberPath:
    """A hard link's target as a path (the scan admitted it: no '..', no '/')."""
    return tuple(part for part in name.split("/") if part not in ("", "."))


def _step(parent: int, part: str) -> int:
    """Open ``part`` under ``parent`` (closing ``parent``), making it if missing."""
    try:
        try:
            os.mkdir(part, 0o700, dir_fd=parent)
            made = True
        except FileExistsError:
            made = False
        fd = os.open(part, _DIR_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)
    if made:
        os.fchmod(fd, 0o755)  # whatever the umask: workloads read their artifacts
    return fd


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
