"""The agent's two trees and their modes: the data dir and everything the agent writes
in it are its user's alone whatever the umask (an older agent's looser modes are
tightened), and the workload dir is never inside it (nor it inside the workload dir).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeplane.agent.credentials import Identity, save_identity
from edgeplane.agent.layout import Layout, open_private, private_dir
from edgeplane.agent.runtimes.process.logs import LogFiles
from edgeplane.agent.runtimes.process.records import Record, RecordStore
from edgeplane.agent.state import LocalState


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The loosest umask: every mode below is the agent's doing, not the umask's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_agents_files_are_0600_in_0700_directories(tmp_path: Path) -> None:
    layout = Layout.of(tmp_path / "site")
    layout.prepare()
    save_identity(layout.data_dir, Identity("http://hub", "a", "ep_secret"))
    state = LocalState(layout.state_db)
    state.set_meta("k", "v")
    RecordStore(layout.runtime_dir / "instances").save(Record("w", 1, {"command": "x"}))
    logs = LogFiles(layout.runtime_dir / "logs", max_bytes=1)
    os.close(logs.open_for_append("w"))
    logs.path("w").write_bytes(b"a line\n")
    assert logs.rotate_if_large("w")
    try:
        files = [p for p in layout.data_dir.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"credential", "identity.json", "state.db", "state.db-wal", "state.db-shm"} <= names
        assert {"w.json", "w.log", "w.log.1"} <= names
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
        dirs = [layout.data_dir, *(p for p in layout.data_dir.rglob("*") if p.is_dir())]
        assert {str(d): mode(d) for d in dirs} == {str(d): 0o700 for d in dirs}
    finally:
        state.close()


def test_an_older_agents_loose_modes_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "site"
    (data / "runtime" / "process" / "logs").mkdir(parents=True, mode=0o777)
    for name in ("credential", "state.db", "state.db-wal", "runtime/process/logs/w.log"):
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    os.symlink("/etc/passwd", data / "link")  # not followed, not changed
    Layout.of(data).prepare()
    assert mode(data) == mode(data / "runtime") == mode(data / "runtime/process/logs") == 0o700
    for name in ("credential", "state.db", "state.db-wal", "runtime/process/logs/w.log"):
        assert mode(data / name) == 0o600, name
    assert mode(Path("/etc/passwd")) == 0o644


def test_open_private_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    os.chmod(path, 0o666)
    os.close(open_private(path, os.O_RDONLY))
    assert mode(path) == 0o600


def test_private_dir_makes_its_parents_private_too(tmp_path: Path) -> None:
    private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3


def test_the_workload_dir_is_a_sibling_and_open_to_pass_through(tmp_path: Path) -> None:
    layout = Layout.of(tmp_path / "site")
    layout.prepare()
    assert layout.workload_dir == tmp_path / "site-workloads"
    assert layout.data_dir not in layout.artifacts_dir.parents
    assert layout.data_dir not in layout.work_dir.parents
    assert [mode(p) for p in (layout.workload_dir, layout.artifacts_dir, layout.work_dir)] == [
        0o711
    ] * 3


@pytest.mark.parametrize(
    ("data", "workloads"),
    [("site", "site/workloads"), ("site/inner", "site"), ("site", "site")],
    ids=["workloads-inside", "data-inside", "same"],
)
def test_nested_trees_are_refused(tmp_path: Path, data: str, workloads: str) -> None:
    with pytest.raises(ValueError, match="must not hold one another"):
        Layout.of(tmp_path / data, tmp_path / workloads).prepare()
    with contextlib.suppress(FileNotFoundError):
        assert not any((tmp_path / data).iterdir())
