"""Reproducible tarballs of a directory (``edgeplane.cli.packing``): the same files give
the same sha256, and what the hub would refuse is refused first, naming the file; and
the upload's progress bar."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from edgeplane.cli import artifacts
from edgeplane.cli.packing import PackError, open_artifact, pack
from tests.support.tarballs import FILE, HARD, SYM, packed


def sha256_of(directory: Path) -> str:
    with pack(directory) as packed:
        return hashlib.sha256(packed.read()).hexdigest()


Member = tuple[str, str, int, tuple[int, int, str, str, float]]
ANONYMOUS = (0, 0, "", "", 0)


def names_in(directory: Path) -> list[Member]:
    with pack(directory) as packed, tarfile.open(fileobj=packed, mode="r:gz") as tar:
        return [
            (m.name, m.linkname, m.mode, (m.uid, m.gid, m.uname, m.gname, m.mtime)) for m in tar
        ]


@pytest.fixture
def service(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / "lib").mkdir(parents=True)
    (root / "main.py").write_text("print('hi')\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o700)
    return root


def test_same_files_give_the_same_sha256_whatever_their_times_and_modes(service: Path) -> None:
    first = sha256_of(service)
    os.utime(service / "main.py", (1, 1))
    (service / "main.py").chmod(0o600)  # another umask: still a plain file
    (service / "run.sh").chmod(0o755)
    assert sha256_of(service) == first


def test_other_content_gives_another_sha256(service: Path) -> None:
    first = sha256_of(service)
    (service / "main.py").write_text("print('changed')\n")
    assert sha256_of(service) != first


def test_members_are_sorted_relative_and_anonymous(service: Path) -> None:
    (service / "__pycache__").mkdir()
    (service / "__pycache__" / "main.cpython-312.pyc").write_bytes(b"\0")
    assert names_in(service) == [
        ("lib", "", 0o755, ANONYMOUS),
        ("lib/util.py", "", 0o644, ANONYMOUS),
        ("main.py", "", 0o644, ANONYMOUS),
        ("run.sh", "", 0o755, ANONYMOUS),
    ]


def test_links_inside_are_kept_relative_even_when_written_absolute(service: Path) -> None:
    (service / "lib" / "current").symlink_to(service / "main.py")
    (service / "entry").symlink_to("lib/util.py")
    links = {name: target for name, target, _, _ in names_in(service) if target}
    assert links == {"entry": "lib/util.py", "lib/current": "../main.py"}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: (d / "passwd").symlink_to("/etc/passwd"), "links outside the directory"),
        (lambda d: (d / "up").symlink_to("../../x"), "links outside the directory"),
        (lambda d: os.mkfifo(d / "pipe"), "is not a file, directory or link"),
    ],
    ids=["absolute-link-out", "relative-link-out", "fifo"],
)
def test_what_the_hub_would_refuse_is_refused_naming_the_file(
    service: Path, make: Callable[[Path], object], expected: str
) -> None:
    make(service)
    with pytest.raises(PackError, match=expected):
        pack(service)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing", "does not exist"),
        ("notes.txt", "push a directory or a .tar.gz/.tgz file"),
        ("empty", "is empty"),
    ],
    ids=["missing", "not-a-tarball", "empty-directory"],
)
def test_unusable_paths_say_what_to_give(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match=expected):
        open_artifact(tmp_path / name)


def test_a_tarball_is_sent_as_it_is(tmp_path: Path) -> None:
    tarball = tmp_path / "app.tgz"
    tarball.write_bytes(packed([("bin/run", FILE, ""), ("run", SYM, "bin/run")]))
    with open_artifact(tarball) as opened:
        assert opened.read() == tarball.read_bytes()


def test_a_tarball_the_hub_would_refuse_is_refused_first(tmp_path: Path) -> None:
    tarball = tmp_path / "evil.tar.gz"
    tarball.write_bytes(packed([("d/e/s", SYM, "../../x"), ("h", HARD, "d/e/s")]))
    with pytest.raises(PackError, match="the hub would refuse it: member 'h'"):
        open_artifact(tarball)


def test_a_file_name_with_a_control_character_is_refused_first(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "run\x1b[2J").write_text("x")
    with pytest.raises(PackError, match="control character"):
        pack(tmp_path / "svc")


def test_a_large_upload_to_a_terminal_shows_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(artifacts, "err", Console(file=screen, force_terminal=True, width=80))
    with artifacts.progress_bar(artifacts.PROGRESS_FROM, "svc:1.0.0") as advance:
        assert advance is not None
        advance(artifacts.PROGRESS_FROM)
    assert "svc:1.0.0" in screen.getvalue()
    with artifacts.progress_bar(artifacts.PROGRESS_FROM - 1, "small") as advance:
        assert advance is None  # done before a bar could be read
