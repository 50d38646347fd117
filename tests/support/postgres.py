"""Start a private PostgreSQL cluster from Debian's binaries on a loopback port.

Used by the test suite and the benchmarks. ``EDGEPLANE_TEST_DATABASE_URL`` points at
an already running server instead. The cluster lives in a temporary directory and is
stopped (fast shutdown) when the context exits.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from tests.support.ports import free_port

DB_NAME = "edgeplane"


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found: run scripts/ensure-postgres "
            "(apt-get install postgresql)"
        )
    return os.path.dirname(found[-1])


def _runner() -> list[str]:
    # initdb and postgres refuse to run as root; run them as the 'postgres' user.
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as e:
        raise PostgresUnavailable("running as root but there is no 'postgres' user") from e
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def running_postgres(fsync: bool = False) -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL of a fresh, empty database.

    Tests run without fsync for speed; benchmarks ask for it, as in production.
    """
    if url := os.environ.get("EDGEPLANE_TEST_DATABASE_URL"):
        yield url
        return
    bindir, run = _bindir(), _runner()
    tmp = tempfile.mkdtemp(prefix="edgeplane-pg-")
    data, port = os.path.join(tmp, "data"), free_port()
    if run:
        shutil.chown(tmp, "postgres", "postgres")
    log = os.path.join(tmp, "postgres.log")
    subprocess.run(
        [*run, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    durability = "on" if fsync else "off"
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync={durability}"
    opts += " -c max_connections=300"
    subprocess.run(
        [*run, f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        _wait_ready(port)
        subprocess.run(
            [
                *run,
                f"{bindir}/psql" if os.path.exists(f"{bindir}/psql") else "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-c",
                f"CREATE DATABASE {DB_NAME}",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DB_NAME}"
    finally:
        subprocess.run(
            [*run, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise PostgresUnavailable(f"PostgreSQL did not accept connections on port {port}")
