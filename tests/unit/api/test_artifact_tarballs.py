"""The artifact content rules (``edgeplane.api.artifacts``): which tarballs pass, which
member is named when one does not, and the limits with their flag keys."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from edgeplane.api.artifacts.errors import ArtifactRefused
from edgeplane.api.artifacts.limits import ArtifactLimits, parse_limits
from edgeplane.api.artifacts.names import name_problem, version_problem
from edgeplane.api.artifacts.scan import Entry, TarballScan
from tests.support.tarballs import DIR, FILE, HARD, SYM, Member, bomb, many, packed


def scanned(data: bytes, limits: ArtifactLimits | None = None, chunk: int = 4096) -> list[str]:
    """The paths admitted, feeding ``chunk`` bytes at a time."""
    scan = TarballScan(limits or ArtifactLimits())
    paths = []
    for at in range(0, len(data), chunk):
        paths += [
            "/".join(e.path) for e in scan.feed(data[at : at + chunk]) if isinstance(e, Entry)
        ]
    scan.finish()
    return paths


def refusal(data: bytes, limits: ArtifactLimits | None = None) -> ArtifactRefused:
    with pytest.raises(ArtifactRefused) as refused:
        scanned(data, limits)
    return refused.value


ACCEPTED: dict[str, list[Member]] = {
    "dot-dir": [("./", DIR, ""), ("./bin/run", FILE, "")],
    "library-link": [("lib", DIR, ""), ("lib/a.so.1", FILE, ""), ("lib/a.so", SYM, "a.so.1")],
    "link-up-inside": [("bin/python", SYM, "../lib/python3"), ("lib/python3", FILE, "")],
    "hardlink-to-earlier-file": [
        ("data", DIR, ""),
        ("main.py", FILE, ""),
        ("copy", HARD, "main.py"),
    ],
    "dot-dot-through-link-stays-in": [("q", SYM, "r/s"), ("r/s", DIR, ""), ("p", SYM, "q/../..")],
    "link-to-self-dir": [("here", SYM, "."), ("sub", DIR, "")],
    "dangling-inside": [("l", SYM, "not/there")],
    "empty": [],
    "directory-twice": [("d", DIR, ""), ("d/x", FILE, ""), ("d", DIR, "")],
}


@pytest.mark.parametrize("members", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_members_inside_are_accepted(members: list[Member]) -> None:
    # tarfile writes directories with a trailing "/": compare the paths, normalised
    expected = [
        "/".join(p for p in name.split("/") if p not in ("", ".")) for name, _, _ in members
    ]
    assert scanned(packed(members)) == expected


REFUSED: dict[str, tuple[list[Member], str, str]] = {
    "absolute": ([("/etc/passwd", FILE, "")], "/etc/passwd", "absolute path"),
    "dot-dot": ([("a/../../x", FILE, "")], "a/../../x", "'..'"),
    "symlink-absolute": ([("l", SYM, "/etc")], "l", "links outside"),
    "symlink-up": ([("l", SYM, "../x")], "l", "links outside"),
    "symlink-deep-up": ([("d/l", SYM, "../../x")], "d/l", "links outside"),
    "hardlink-up": ([("h", HARD, "../x")], "h", "links outside"),
    "hardlink-to-symlink": (
        [("d/e/s", SYM, "../../x"), ("h", HARD, "d/e/s")],
        "h",
        "not a regular file",
    ),
    "hardlink-to-later-file": ([("h", HARD, "f"), ("f", FILE, "")], "h", "not a regular file"),
    "hardlink-to-dir": ([("d", DIR, ""), ("h", HARD, "d")], "h", "not a regular file"),
    "char-device": ([("dev", tarfile.CHRTYPE, "")], "dev", "character device"),
    "block-device": ([("blk", tarfile.BLKTYPE, "")], "blk", "block device"),
    "fifo": ([("pipe", tarfile.FIFOTYPE, "")], "pipe", "fifo"),
    "write-through-link": ([("s", SYM, "."), ("s/x", FILE, "")], "s/x", "not a directory"),
    "link-replaced-by-file": ([("l", SYM, "a"), ("l", FILE, "")], "l", "given twice"),
    "file-replaced-by-link": ([("f", FILE, ""), ("f", SYM, "../x")], "f", "given twice"),
    "dir-replaced-by-link": ([("d", DIR, ""), ("d", SYM, ".")], "d", "given twice"),
    "under-a-file": ([("f", FILE, ""), ("f/x", FILE, "")], "f/x", "not a directory"),
    # Judged against the final tree: "q" is a directory in the end, so "p" leaves.
    "final-tree-decides": ([("p", SYM, "q/../.."), ("q", DIR, "")], "p", "links outside"),
    "link-loop": ([("a", SYM, "b"), ("b", SYM, "a")], "a", "loop"),
    "newline-name": ([("run\n", FILE, "")], "run\n", "control character"),
    "escape-in-link": ([("l", SYM, "a\x1b]52")], "l", "control character"),
    "long-component": ([("a" * 256, FILE, "")], "a" * 256, "255 bytes"),
    "empty-link": ([("l", SYM, "")], "l", "without a target"),
}


@pytest.mark.parametrize(("members", "bad", "why"), list(REFUSED.values()), ids=list(REFUSED))
def test_members_outside_are_named(members: list[Member], bad: str, why: str) -> None:
    refused = refusal(packed(members))
    assert (refused.member, refused.limit) == (bad, None)
    assert why in refused.why


@pytest.mark.parametrize(
    ("data", "limits", "key", "member"),
    [
        (bomb(64 * 1024 * 1024), ArtifactLimits(), "ratio", "zeros"),
        (
            bomb(8 * 1024 * 1024),
            ArtifactLimits(unpacked_bytes=4 << 20, ratio=10**6),
            "unpacked-bytes",
            "zeros",
        ),
        (many(11), ArtifactLimits(members=10), "members", "f10"),
        (packed([("a/b/c/d", FILE, "")]), ArtifactLimits(depth=3), "depth", "a/b/c/d"),
        (packed([("x" * 40, FILE, "")]), ArtifactLimits(name_bytes=32), "name-bytes", "x" * 40),
        (packed([("l", SYM, "y" * 40)]), ArtifactLimits(name_bytes=32), "name-bytes", "l"),
    ],
    ids=["ratio", "unpacked-bytes", "members", "depth", "name-bytes", "link-bytes"],
)
def test_limits_name_the_member_and_the_key(
    data: bytes, limits: ArtifactLimits, key: str, member: str
) -> None:
    refused = refusal(data, limits)
    assert (refused.member, refused.limit) == (member, key)
    assert f"raise the hub's --artifact-limit {key}=N" in refused.explain("the hub's")


def test_a_bomb_is_refused_before_it_is_inflated() -> None:
    data = bomb(256 * 1024 * 1024)  # 256 MiB of zeros, about 250 KiB compressed
    scan = TarballScan(ArtifactLimits())
    with pytest.raises(ArtifactRefused, match="inflates more than 200 times"):
        scan.check(data)
    assert scan._inflater.inflated < 64 * 1024 * 1024


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("chunk", [1, 511, 65536])
def test_long_names_in_every_format_and_any_chunking(fmt: int, chunk: int) -> None:
    name = "d/" + "a" * 90 + "/" + "b" * 60  # over 100 bytes: ustar prefix, PAX or GNU record
    link = "../" + "c" * 120 if fmt != tarfile.USTAR_FORMAT else "c"
    members: list[Member] = [(name, FILE, ""), ("d/l", SYM, link)]
    assert scanned(packed(members, fmt), chunk=chunk) == [name, "d/l"]


def header(name: bytes, size: bytes | int = 0, type_: bytes = b"0", checksum: bool = True) -> bytes:
    """One ustar header block; a whole ``size`` is written in octal, bytes as they are."""
    size = b"%o" % size if isinstance(size, int) else size
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[124 : 124 + len(size)] = size
    block[156:157] = type_
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    total = sum(block) if checksum else sum(block) + 1
    block[148:156] = b"%06o\0 " % total
    return bytes(block)


@pytest.mark.parametrize(
    ("tar", "why"),
    [
        (header(b"f", checksum=False), "checksum"),
        (header(b"f", size=b"1_0"), "not an octal number"),
        (header(b"f", size=b"-1"), "not an octal number"),
        (header(b"f", size=b"\xff" + b"\xff" * 11), "negative size"),
        (header(b"\xff\xfe"), "not UTF-8"),
        (header(b"d", size=1, type_=b"5") + bytes(512), "carries 1 bytes"),
        (header(b"s", type_=b"S"), "sparse"),
        (header(b"v", type_=b"V"), "unknown type"),
        (
            header(b"", size=20, type_=b"x") + b"20 GNU.sparse.map=1\n".ljust(512, b"\0"),
            "sparse",
        ),
        (header(b"", size=11, type_=b"g") + b"11 path=/x\n".ljust(512, b"\0"), "global PAX"),
        (header(b"", size=9, type_=b"x") + b"9 path=\n".ljust(512, b"\0"), "malformed PAX"),
        (header(b"", size=200000, type_=b"x"), "PAX or GNU record of 200000 bytes"),
        (header(b"f", size=100), "cut short"),
        (b"", "holds no tar archive"),
    ],
    ids=[
        "checksum",
        "octal-underscore",
        "octal-sign",
        "base256-negative",
        "not-utf8",
        "dir-with-data",
        "sparse",
        "unknown-type",
        "pax-sparse",
        "global-path",
        "pax-malformed",
        "pax-too-large",
        "cut-short",
        "empty",
    ],
)
def test_hand_made_headers_are_parsed_strictly(tar: bytes, why: str) -> None:
    refused = refusal(gzip.compress(tar))
    assert why in refused.why


@pytest.mark.parametrize(
    "body", [b"", b"plain text", b"\x1f\x8b\x08\x00garbage", packed([("f", FILE, "")])[:20]]
)
def test_what_is_no_gzip_tarball_says_so(body: bytes) -> None:
    refused = refusal(body)
    assert refused.member is None
    assert "the artifact" in refused.explain("the hub's")


def test_members_after_the_end_of_the_archive_are_never_read() -> None:
    buffer = io.BytesIO(gzip.compress(header(b"f") + bytes(1024) + header(b"/etc/passwd")))
    assert scanned(buffer.getvalue()) == ["f"]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], ArtifactLimits()),
        (["members=7", "depth=3"], ArtifactLimits(members=7, depth=3)),
        (["unpacked-bytes=1", "ratio=5", "name-bytes=4000"], ArtifactLimits(1, 50_000, 5, 4000)),
    ],
)
def test_limits_are_parsed_from_flags(pairs: list[str], expected: ArtifactLimits) -> None:
    assert parse_limits(pairs) == expected


@pytest.mark.parametrize(
    "pair",
    [
        "members",
        "members=",
        "members=-1",
        "members=0",
        "bytes=5",
        "name-bytes=5000",
        "members=1\n",
        "members=\u0663",
        " members=1",
    ],
)
def test_bad_limit_flags_are_refused(pair: str) -> None:
    with pytest.raises(ValueError, match="--artifact-limit"):
        parse_limits([pair])


@pytest.mark.parametrize(
    "name", ["demo\n", "demo ", "Demo", "-demo", "d" * 64, "de\u0663mo", "", "a/b", ".."]
)
def test_artifact_names_are_fully_matched(name: str) -> None:
    assert name_problem(name)
    assert name_problem("demo-service") is None


@pytest.mark.parametrize("version", ["1.0\n", "1.0 ", "-1", "1/2", "\u0663", "", "v" * 129])
def test_artifact_versions_are_fully_matched(version: str) -> None:
    assert version_problem(version)
    assert version_problem("1.2.0+build_7") is None


@pytest.mark.parametrize(
    "members",
    [
        [("h", HARD, "../" + "x" * 60_000)],
        [("l", SYM, "/" + "y" * 60_000)],
        [("z" * 60_000, FILE, "")],
    ],
    ids=["hardlink-target", "symlink-target", "member-name"],
)
def test_messages_stay_short_whatever_the_names(members: list[Member]) -> None:
    # They end up in an assignment's status message, which the hub bounds.
    assert len(refusal(packed(members)).explain("the hub's")) < 1024
