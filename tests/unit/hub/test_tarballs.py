"""Which tarballs unpack inside their directory: members followed through earlier links."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from edgeplane.hub.tarballs import UnsafeTarball, check_tarball

# A member: (name, type, link target); files get one byte of content.
Member = tuple[str, bytes, str]
FILE, DIR, SYM, HARD = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def packed(tmp_path: Path, members: list[Member]) -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            info.size = 1 if kind == FILE else 0
            tar.addfile(info, io.BytesIO(b"x") if kind == FILE else None)
    return path


@pytest.mark.parametrize(
    "members",
    [
        [("./", DIR, ""), ("./bin/run", FILE, "")],
        [("lib", DIR, ""), ("lib/a.so.1", FILE, ""), ("lib/a.so", SYM, "a.so.1")],
        [("bin/python", SYM, "../lib/python3"), ("lib/python3", FILE, "")],
        [("s", SYM, "."), ("s/x", FILE, "")],
        [("data", DIR, ""), ("copy", HARD, "data/../main.py")],
        [("here", SYM, "sub/.."), ("sub", DIR, "")],
    ],
    ids=[
        "dot-dir",
        "library-link",
        "link-up-inside",
        "through-self-link",
        "hardlink",
        "dot-dot-in",
    ],
)
def test_members_inside_are_accepted(tmp_path: Path, members: list[Member]) -> None:
    check_tarball(packed(tmp_path, members))


@pytest.mark.parametrize(
    ("members", "bad", "why"),
    [
        ([("/etc/passwd", FILE, "")], "/etc/passwd", "absolute path"),
        ([("a/../../x", FILE, "")], "a/../../x", "'..'"),
        ([("l", SYM, "/etc")], "l", "links outside"),
        ([("l", SYM, "../x")], "l", "links outside"),
        ([("d/l", SYM, "../../x")], "d/l", "links outside"),
        ([("h", HARD, "../x")], "h", "links outside"),
        ([("dev", tarfile.CHRTYPE, "")], "dev", "device"),
        ([("blk", tarfile.BLKTYPE, "")], "blk", "device"),
        ([("pipe", tarfile.FIFOTYPE, "")], "pipe", "fifo"),
        ([("s", SYM, "."), ("s/s/s/l", SYM, "../../../x")], "s/s/s/l", "links outside"),
        ([("up", SYM, "sub/../.."), ("x", FILE, "")], "up", "links outside"),
        ([("t", SYM, "."), ("l", SYM, "t/../x")], "l", "links outside"),
        ([("d", SYM, "a/b"), ("d2", SYM, "d/../../..")], "d2", "links outside"),
        ([("loop", SYM, "loop"), ("loop/x", FILE, "")], "loop/x", "lands outside"),
        ([("a", SYM, "."), ("a/b", SYM, ".."), ("a/b/x", FILE, "")], "a/b", "links outside"),
    ],
    ids=[
        "absolute",
        "dot-dot",
        "symlink-absolute",
        "symlink-up",
        "symlink-deep-up",
        "hardlink-up",
        "char-device",
        "block-device",
        "fifo",
        "link-shortens-path",
        "up-through-dir",
        "up-through-link",
        "deep-link-then-up",
        "link-loop",
        "link-to-parent",
    ],
)
def test_members_outside_are_named(
    tmp_path: Path, members: list[Member], bad: str, why: str
) -> None:
    with pytest.raises(UnsafeTarball) as refused:
        check_tarball(packed(tmp_path, members))
    assert f"member {bad!r}" in str(refused.value)
    assert why in str(refused.value)


@pytest.mark.parametrize(
    "body",
    [b"", b"plain text", b"\x1f\x8b\x08\x00garbage"],
    ids=["empty", "text", "broken-gzip"],
)
def test_what_is_no_gzip_tarball_says_so(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x"
    path.write_bytes(body)
    with pytest.raises(UnsafeTarball, match="not a gzip tarball"):
        check_tarball(path)
