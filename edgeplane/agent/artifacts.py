"""The site's artifact cache: content-addressed tarballs, downloaded once, checked
against the sha256 the hub recorded, unpacked safely into ``<dir>/<sha256>/``.

The agent supplies ``fetch`` (a download from the hub); the cache knows nothing of
HTTP. A directory named for its sha256 exists only once complete: everything is
unpacked (and fsynced) in a temporary directory that is then renamed into place, so
an agent killed midway leaves only temporary files, which ``gc`` clears.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from edgeplane.agent.errors import AgentError

Fetch = Callable[[str, str], AsyncIterator[bytes]]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMP = ".tmp-"


class ArtifactError(AgentError):
    """An artifact failed its check or could not be unpacked; the message names it."""


class ArtifactCache:
    def __init__(self, directory: Path, fetch: Fetch) -> None:
        self.directory, self._fetch = directory, fetch
        self._inflight: dict[str, asyncio.Task[Path]] = {}

    async def ensure(self, name: str, version: str, sha256: str) -> Path:
        """The directory the artifact is unpacked in, downloading it first if needed.
        Concurrent calls for one sha256 share one download."""
        if not _SHA256.match(sha256):
            raise ArtifactError(f"artifact {name}:{version}: {sha256!r} is not a sha256 digest")
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
        if not self.directory.is_dir():
            return
        for entry in self.directory.iterdir():
            if entry.name in keep or any(
                entry.name.startswith(f"{_TEMP}{s}") for s in self._inflight
            ):
                continue
            if entry.name.startswith(_TEMP) or _SHA256.match(entry.name):
                _remove(entry)

    async def _install(self, name: str, version: str, sha256: str) -> Path:
        label = f"artifact {name}:{version}"
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = self.directory / f"{_TEMP}{sha256}-{uuid.uuid4().hex[:8]}"
        archive, unpacked = stem.with_suffix(".tar.gz"), stem.with_suffix(".d")
        try:
            await self._download(label, name, version, sha256, archive)
            await asyncio.to_thread(unpack, label, archive, unpacked)
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

    async def _download(self, label: str, name: str, version: str, sha256: str, to: Path) -> None:
        digest, size = hashlib.sha256(), 0
        # Chunk-sized writes to local disk: cheap next to the network wait between them.
        with open(to, "wb") as f:  # noqa: ASYNC230
            async for chunk in self._fetch(name, version):
                digest.update(chunk)
                f.write(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        if digest.hexdigest() != sha256:
            raise ArtifactError(
                f"{label}: sha256 mismatch: expected {sha256}, got {digest.hexdigest()} "
                f"after {size} bytes (a truncated or altered download); it will be fetched again"
            )


def unpack(label: str, archive: Path, to: Path) -> None:
    """Unpack a gzip tarball with ``tarfile``'s ``data`` filter: it refuses absolute
    paths, ``..``, links that point outside, devices and fifos, and drops setuid bits.
    One refused member refuses the whole artifact: a half-unpacked program is worse
    than none."""
    to.mkdir()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():  # check all before writing any
                if os.path.isabs(member.name):
                    # The data filter would quietly strip the "/": the hub refuses such
                    # tarballs, so one here was not made by our tools.
                    raise tarfile.AbsolutePathError(member)
                tarfile.data_filter(member, str(to))
            tar.extractall(to, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise ArtifactError(f"{label}: cannot unpack: {e}") from e
    _fsync_tree(to)


def _fsync_tree(root: Path) -> None:
    """Make the unpacked files durable before the rename publishes them: after a
    power cut the directory must not exist with empty files in it."""
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
