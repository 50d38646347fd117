"""The artifact cache: sha256 checks, one download per digest, and an unpack that
refuses every way a tarball can reach outside its directory."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edgeplane.agent.artifacts import ArtifactCache, ArtifactError
from edgeplane.agent.errors import AgentError, HubUnreachable
from edgeplane.api.artifacts.limits import ArtifactLimits
from tests.support.tarballs import bomb


def tarball(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


GOOD = tarball(
    (member("bin", tarfile.DIRTYPE, mode=0o755), None),
    (member("bin/serve", mode=0o755), b"#!/bin/sh\necho hi\n"),
    (member("current", tarfile.SYMTYPE, link="bin/serve"), None),
)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serving(
    blobs: dict[str, bytes], calls: list[str] | None = None
) -> Callable[[str, str], AsyncIterator[bytes]]:
    async def fetch(name: str, version: str) -> AsyncIterator[bytes]:
        if calls is not None:
            calls.append(name)
        data = blobs[name]
        for i in range(0, len(data), 7):
            await asyncio.sleep(0)
            yield data[i : i + 7]

    return fetch


async def test_ensure_downloads_checks_and_unpacks_once(tmp_path: Path) -> None:
    calls: list[str] = []
    cache = ArtifactCache(tmp_path, serving({"app": GOOD}, calls))
    paths = await asyncio.gather(*(cache.ensure("app", "1", sha(GOOD)) for _ in range(5)))
    assert set(paths) == {tmp_path / sha(GOOD)}
    assert calls == ["app"]
    assert (paths[0] / "bin/serve").read_text() == "#!/bin/sh\necho hi\n"
    assert (paths[0] / "bin/serve").stat().st_mode & 0o111
    assert (paths[0] / "current").is_symlink()
    assert await cache.ensure("app", "1", sha(GOOD)) == paths[0]
    assert calls == ["app"]  # already here: no second download
    assert names(tmp_path) == [sha(GOOD)]


@pytest.mark.parametrize(
    ("served", "expected"),
    [(GOOD[:-10], GOOD), (GOOD + b"x", GOOD), (b"other bytes", GOOD)],
    ids=["truncated", "extended", "altered"],
)
async def test_a_download_that_does_not_match_is_refused(
    tmp_path: Path, served: bytes, expected: bytes
) -> None:
    cache = ArtifactCache(tmp_path, serving({"app": served}))
    with pytest.raises(ArtifactError) as error:
        await cache.ensure("app", "1.0", sha(expected))
    message = str(error.value)
    assert "artifact app:1.0" in message
    assert sha(expected) in message and sha(served) in message
    assert isinstance(error.value, AgentError)
    assert names(tmp_path) == []  # no temp file, no directory


async def test_a_cut_download_leaves_nothing_and_keeps_the_hubs_error(tmp_path: Path) -> None:
    async def fetch(name: str, version: str) -> AsyncIterator[bytes]:
        yield GOOD[:10]
        raise HubUnreachable("connection reset")

    cache = ArtifactCache(tmp_path, fetch)
    with pytest.raises(HubUnreachable):
        await cache.ensure("app", "1", sha(GOOD))
    assert names(tmp_path) == []


async def test_a_bad_digest_is_refused_before_downloading(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path, serving({}))
    with pytest.raises(ArtifactError, match="not a sha256"):
        await cache.ensure("app", "1", "../../etc")


MALICIOUS = {
    "absolute-path": tarball((member("/etc/evil"), b"x")),
    "dot-dot": tarball((member("../evil"), b"x")),
    "dot-dot-inside": tarball((member("bin/../../evil"), b"x")),
    "symlink-out-absolute": tarball((member("link", tarfile.SYMTYPE, link="/etc/passwd"), None)),
    "symlink-out-relative": tarball((member("link", tarfile.SYMTYPE, link="../../x"), None)),
    "hardlink-out": tarball((member("link", tarfile.LNKTYPE, link="../x"), None)),
    "write-through-symlink": tarball(
        (member("dir", tarfile.SYMTYPE, link="."), None),
        (member("dir/../../evil"), b"x"),
    ),
    "hardlink-to-symlink": tarball(
        (member("d/e/s", tarfile.SYMTYPE, link="../../x"), None),
        (member("h", tarfile.LNKTYPE, link="d/e/s"), None),
    ),
    "link-replaced-by-file": tarball(
        (member("l", tarfile.SYMTYPE, link="."), None), (member("l"), b"x")
    ),
    "final-tree-link-out": tarball(
        (member("p", tarfile.SYMTYPE, link="q/../.."), None),
        (member("q", tarfile.DIRTYPE), None),
    ),
    "long-component": tarball((member("a" * 256), b"x")),
    "char-device": tarball((member("tty", tarfile.CHRTYPE), None)),
    "block-device": tarball((member("sda", tarfile.BLKTYPE), None)),
    "fifo": tarball((member("pipe", tarfile.FIFOTYPE), None)),
    "not-gzip": b"just some text",
    "truncated-gzip": GOOD[: len(GOOD) // 2],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS), ids=sorted(MALICIOUS))
async def test_unsafe_tarballs_are_refused_whole(tmp_path: Path, case: str) -> None:
    data = MALICIOUS[case]
    cache = ArtifactCache(tmp_path / "cache", serving({"evil": data}))
    with pytest.raises(ArtifactError, match="artifact evil:1: refused: "):
        await cache.ensure("evil", "1", sha(data))
    assert names(tmp_path / "cache") == []
    assert names(tmp_path) == ["cache"]


async def test_setuid_bits_are_dropped(tmp_path: Path) -> None:
    data = tarball((member("suid", mode=0o4755), b"x"))
    path = await ArtifactCache(tmp_path, serving({"a": data})).ensure("a", "1", sha(data))
    assert not (path / "suid").stat().st_mode & 0o4000


async def test_gc_keeps_what_is_asked_and_clears_leftovers(tmp_path: Path) -> None:
    other = tarball((member("x"), b"other"))
    cache = ArtifactCache(tmp_path, serving({"a": GOOD, "b": other}))
    await cache.ensure("a", "1", sha(GOOD))
    await cache.ensure("b", "1", sha(other))
    (tmp_path / f".tmp-{sha(other)}-dead.tar.gz").write_bytes(b"partial")
    (tmp_path / "unrelated").mkdir()
    cache.gc({sha(GOOD)})
    assert names(tmp_path) == [sha(GOOD), "unrelated"]


async def test_a_bomb_is_refused_naming_the_agents_flag(tmp_path: Path) -> None:
    data = bomb(8 * 1024 * 1024)
    limits = ArtifactLimits(unpacked_bytes=1024 * 1024, ratio=10**6)
    cache = ArtifactCache(tmp_path, serving({"b": data}), limits)
    with pytest.raises(ArtifactError) as refused:
        await cache.ensure("b", "1", sha(data))
    assert "member 'zeros'" in str(refused.value)
    assert "the agent's --artifact-limit unpacked-bytes=N" in str(refused.value)
    assert names(tmp_path) == []


async def test_a_refused_digest_is_not_downloaded_again(tmp_path: Path) -> None:
    data = MALICIOUS["hardlink-to-symlink"]
    calls: list[str] = []
    cache = ArtifactCache(tmp_path, serving({"evil": data}, calls))
    for _ in range(3):
        with pytest.raises(ArtifactError, match="not a regular file"):
            await cache.ensure("evil", "1", sha(data))
    assert calls == ["evil"]


async def test_a_download_over_the_limit_is_cut(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path, serving({"app": GOOD}), max_bytes=len(GOOD) - 1)
    with pytest.raises(ArtifactError, match="--max-artifact-bytes"):
        await cache.ensure("app", "1", sha(GOOD))
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "version"), [("app\n", "1"), ("app", "1\n"), ("../x", "1"), ("app", "1/../../2")]
)
async def test_names_are_checked_before_anything_is_fetched(
    tmp_path: Path, name: str, version: str
) -> None:
    calls: list[str] = []
    cache = ArtifactCache(tmp_path, serving({}, calls))
    with pytest.raises(ArtifactError):
        await cache.ensure(name, version, sha(GOOD))
    assert calls == []


async def test_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    data = tarball(
        (member("d", tarfile.DIRTYPE, mode=0o700), None),
        (member("d/run", mode=0o700), b"x"),
        (member("d/data", mode=0o666), b"y"),
        (member("d/same", tarfile.LNKTYPE, link="d/data"), None),
    )
    old = os.umask(0o077)
    try:
        path = await ArtifactCache(tmp_path, serving({"a": data})).ensure("a", "1", sha(data))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o7777 for p in [path, *path.rglob("*")]}
    assert modes == {path.name: 0o755, "d": 0o755, "run": 0o755, "data": 0o644, "same": 0o644}
    assert (path / "d/same").stat().st_ino == (path / "d/data").stat().st_ino
