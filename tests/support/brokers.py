"""Real message brokers for the data-sink tests: nats-server (JetStream) and mosquitto.

``running_nats`` and ``running_mosquitto`` start Debian's binaries (installed by
``scripts/ensure-brokers``) on a free port of 127.0.0.1, with their state in a
temporary directory, and stop them at the end. Each yields a ``Broker``: its ``url``
(``host`` and ``port`` too), and ``stop``/``start`` to take it down and bring it back on
the same port and state, for tests of a sink whose broker is away for a while.

A broker counts as up once it answers on its port: nats-server once its greeting
(``INFO``) says JetStream is on, mosquitto once it accepts a connection. Neighbours:
``ports``, ``waiting``; the fixtures are in ``tests/integration/dataplane/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.ports import free_port
from tests.support.toxiproxy import stop_process
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
ENSURE = REPO / "scripts" / "ensure-brokers"
HOST = "127.0.0.1"
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin")
"""Where Debian puts the daemons, often outside a user's PATH."""
Up = Callable[[int], bool]
"""Whether the broker on this port of ``HOST`` answers yet."""


class BrokerUnavailable(RuntimeError):
    """The broker's binary is missing, or the broker did not come up."""


def find_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))
    if found is None:
        raise BrokerUnavailable(
            f"{name} is missing: run scripts/ensure-brokers (apt-get install mosquitto nats-server)"
        )
    return found


class Broker:
    """One broker process on a fixed port: stopped and started again at will."""

    def __init__(
        self, name: str, scheme: str, argv: list[str], port: int, log: Path, up: Up
    ) -> None:
        self.name, self.scheme, self.argv, self.port, self.log = name, scheme, argv, port, log
        self.host = HOST
        self._up = up
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, within: float = 30.0) -> None:
        """Start the broker (again) and return once it answers on its port."""
        if self.running:
            return
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self._answering, f"{self.name} on {self.url}", within, seen=self._log_tail)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 10 s); its port and state stay."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        stop_process(process)

    def _answering(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            raise BrokerUnavailable(
                f"{self.name} exited with {code}; its log ends:\n{self._log_tail()}"
            )
        return self._up(self.port)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def _nats_up(port: int) -> bool:
    """nats-server greets each client with ``INFO {json}``; JetStream is ready once it
    says so there."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as conn:
            greeting = conn.makefile("rb").readline()
        return greeting.startswith(b"INFO ") and bool(json.loads(greeting[5:])["jetstream"])
    except (OSError, ValueError, KeyError):
        return False


def _accepting(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def _broker(
    name: str, scheme: str, make: Callable[[Path, int], list[str]], up: Up
) -> Iterator[Broker]:
    tmp = Path(tempfile.mkdtemp(prefix=f"edgeplane-{name}-"))
    port = free_port()
    broker = Broker(name, scheme, make(tmp, port), port, tmp / f"{name}.log", up)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def running_nats() -> Iterator[Broker]:
    """nats-server with JetStream (file store in a temporary directory) on 127.0.0.1;
    ``url`` is ``nats://127.0.0.1:<port>``."""
    binary = find_binary("nats-server")

    def argv(tmp: Path, port: int) -> list[str]:
        store = tmp / "jetstream"
        return [binary, "-js", "-a", HOST, "-p", str(port), "--store_dir", str(store)]

    with _broker("nats-server", "nats", argv, _nats_up) as broker:
        yield broker


@contextlib.contextmanager
def running_mosquitto(acl: str | None = None) -> Iterator[Broker]:
    """mosquitto on 127.0.0.1, anonymous clients allowed, no persistence; ``address``
    is ``(host, port)``. ``acl``, when given, is the text of an ACL file (its rules
    before any ``user`` line apply to anonymous clients)."""
    binary = find_binary("mosquitto")

    def argv(tmp: Path, port: int) -> list[str]:
        lines = [f"listener {port} {HOST}", "allow_anonymous true", "persistence false"]
        if acl is not None:
            (tmp / "acl").write_text(acl)
            lines.append(f"acl_file {tmp / 'acl'}")
        # mosquitto, started as root, drops to the 'mosquitto' user: it must still
        # read its files.
        tmp.chmod(0o755)
        (tmp / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        return [binary, "-c", str(tmp / "mosquitto.conf")]

    with _broker("mosquitto", "mqtt", argv, _accepting) as broker:
        yield broker
