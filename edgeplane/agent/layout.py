"""Where the agent keeps things, and who may read them.

Two trees, so that nothing a workload can reach by a relative path holds a secret:

* the **data dir** (0700, files 0600 whatever the umask): the credential, the hub's
  identity, ``state.db`` (assignments with their env secrets), the runtime's records
  and the workloads' logs. Only the agent's user can enter it.
* the **workload dir** (``<data-dir>-workloads`` unless given; 0711): unpacked
  artifacts and each workload's working directory, the places a workload runs in.
  No ancestor of a workload's working directory is the data dir.

A workload that runs as the agent's own user can still name the data dir by its
absolute path: only ``runAs`` (another uid) stops that. See docs/agent.md.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SHARED_DIR = 0o711
"""The workload dir and its first levels: other users (runAs workloads) pass through to
their own directories and to artifacts, but can neither write there nor list which
workloads and artifacts the site has."""


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    workload_dir: Path

    @classmethod
    def of(cls, data_dir: Path, workload_dir: Path | None = None) -> Layout:
        data_dir = data_dir.absolute()
        default = data_dir.with_name(f"{data_dir.name}-workloads")
        return cls(data_dir, (workload_dir or default).absolute())

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def runtime_dir(self) -> Path:
        return self.data_dir / "runtime" / "process"

    @property
    def artifacts_dir(self) -> Path:
        return self.workload_dir / "artifacts"

    @property
    def work_dir(self) -> Path:
        return self.workload_dir / "work"

    def check(self) -> None:
        """Refuse a workload dir inside the data dir (or the reverse): workloads would
        then be unable to reach it, or be able to reach the secrets."""
        a, b = self.data_dir.resolve(), self.workload_dir.resolve()
        if a == b or a in b.parents or b in a.parents:
            raise ValueError(
                f"the workload dir {self.workload_dir} and the data dir {self.data_dir} "
                "must not hold one another: pass --workload-dir outside the data dir"
            )

    def prepare(self) -> None:
        """Make both trees and tighten what an earlier agent (or a loose umask) left."""
        self.check()
        private_dir(self.data_dir)
        tighten_tree(self.data_dir)
        shared_dir(self.workload_dir)
        shared_dir(self.artifacts_dir)
        shared_dir(self.work_dir)


def private_dir(path: Path) -> Path:
    """A directory only the agent's user can enter; the parents it makes are too."""
    return _make_dir(path, PRIVATE_DIR)


def shared_dir(path: Path) -> Path:
    """A directory others may pass through, but neither list nor write."""
    return _make_dir(path, SHARED_DIR)


def _make_dir(path: Path, mode: int) -> Path:
    # mkdir's mode is masked by the umask, and mkdir(parents=True) gives the parents
    # it makes the umask's mode: each level is made and set here instead.
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for level in reversed(missing):
        level.mkdir(mode=mode, exist_ok=True)
        os.chmod(level, mode)
    os.chmod(path, mode)  # an existing one keeps its own mode otherwise
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` for a file of the agent's own: created 0600, and made 0600 when it
    existed with another mode (the mode argument counts only on creation)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return fd


def tighten_tree(root: Path) -> None:
    """Every directory under ``root`` 0700 and every regular file 0600; symlinks are
    neither followed nor changed."""
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            _chmod_own(Path(directory, name), PRIVATE_DIR, stat.S_ISDIR)
        for name in files:
            _chmod_own(Path(directory, name), PRIVATE_FILE, stat.S_ISREG)


def _chmod_own(path: Path, mode: int, is_kind: Callable[[int], bool]) -> None:
    # Through a descriptor opened without following links, so a link swapped in
    # after the walk saw the entry is not followed either.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, OSError):
        return  # gone, or a symlink (ELOOP): nothing of ours to tighten
    try:
        st = os.fstat(fd)
        if is_kind(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
