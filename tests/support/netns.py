"""Real random packet loss for tests: a network namespace whose nftables drop a share
of the TCP packets to (and optionally from) chosen ports.

``lossy_namespace`` creates a namespace with a unique name, brings its ``lo`` up and
deletes it at the end, even when the test fails, after killing whatever still runs in
it. Processes started through ``LossyNamespace.command`` (``ip netns exec NAME ...``)
see only that namespace's loopback, so a hub and its agents both run inside it and
talk over ``127.0.0.1``; the test reaches them through ``forward`` or ``connect``
(sockets made by a thread that joined the namespace). The kernel's own TCP then
retransmits what was dropped, which ``toxiproxy`` (streams, not packets) cannot
model. The kernel here has no ``tc netem``; nftables' ``numgen random`` is the loss.
Needs root and ``nft`` (``scripts/ensure-nftables``). ``private_namespace`` and
``run_inside`` serve tests that need a namespace only to be alone in it (mDNS: root and
``ip`` suffice). Neighbours: ``toxiproxy``, ``ports``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import selectors
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
TABLE = "inet edgeplane_loss"
HOST = "127.0.0.1"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsUnavailable(RuntimeError):
    """Not root, or ``ip``/``nft`` missing: the namespace cannot be made."""


def _ip(*argv: str, input: str | None = None) -> str:
    done = subprocess.run(["ip", *argv], input=input, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Loss:
    """What share of the TCP packets to a port is dropped, and whether its answers
    (packets from the port) are dropped too."""

    fraction: float
    both_ways: bool = False

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)


def loss_rules(losses: Mapping[int, Loss]) -> str:
    """An ``nft -f`` script that replaces the rules with one per port and direction:
    ``numgen random mod 100 < N`` drops N % of the packets (``< 100`` is not
    allowed, so a whole loss is a plain ``drop``), counting what it drops."""
    lines = [
        f"add table {TABLE}",
        f"add chain {TABLE} output {{ type filter hook output priority 0; policy accept; }}",
        f"flush chain {TABLE} output",
    ]
    for port, loss in sorted(losses.items()):
        chance = "" if loss.percent >= 100 else f"numgen random mod 100 < {loss.percent} "
        sides = ("dport", "sport") if loss.both_ways else ("dport",)
        for side in sides if loss.percent > 0 else ():
            lines.append(f"add rule {TABLE} output tcp {side} {port} {chance}counter drop")
    return "\n".join(lines) + "\n"


class LossyNamespace:
    """One namespace of a test; ``set_loss`` changes its loss while processes run."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.losses: dict[int, Loss] = {}

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace (for ``subprocess``)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside to its end; output captured as text unless told."""
        options.setdefault("capture_output", True)
        return subprocess.run(self.command(*argv), text=True, **options)

    def set_loss(self, port: int, fraction: float, both_ways: bool = False) -> None:
        """Drop ``fraction`` (0 to 1, in whole percent) of the TCP packets sent to
        ``port`` inside the namespace; with ``both_ways``, of those it sends too. Loss
        one way already makes TCP retransmit; both ways, a connect fails more often
        (a lost SYN-ACK costs as much as a lost SYN: 1 s, then 2, 4, ...)."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"set_loss: fraction must be between 0 and 1, not {fraction}")
        self.losses[port] = Loss(fraction, both_ways)
        _ip("netns", "exec", self.name, "nft", "-f", "-", input=loss_rules(self.losses))

    def rules(self) -> str:
        """What nftables holds now (``nft list ruleset``), for a failing test's report."""
        return _ip("netns", "exec", self.name, "nft", "list", "ruleset")

    def dropped(self) -> int:
        """Packets the loss rules dropped so far (their counters; reset by ``set_loss``)."""
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", self.rules()))

    def pids(self) -> list[int]:
        return [int(p) for p in _ip("netns", "pids", self.name).split()]

    def connect(self, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP connection to ``127.0.0.1:port`` inside, made from this process."""
        return _inside(self.name, lambda: socket.create_connection((HOST, port), timeout))

    @contextlib.contextmanager
    def forward(self, port: int) -> Iterator[int]:
        """Relay a free port of this process's 127.0.0.1 to ``port`` inside, for the
        block (a test reading the hub it runs inside); yields the outside port. The
        inner leg is subject to the namespace's loss like any connection to ``port``."""
        with _Relay((HOST, 0), _Pipe) as relay:
            relay.inner = functools.partial(self.connect, port)
            thread = threading.Thread(target=relay.serve_forever, args=(0.02,), daemon=True)
            thread.start()
            try:
                yield int(relay.server_address[1])
            finally:
                relay.shutdown()
                thread.join()


def _inside(name: str, make: Callable[[], T]) -> T:
    """``make()`` run in a fresh thread that first joins namespace ``name``: sockets
    it creates stay there, and no thread of the caller changes namespace."""
    result: list[T] = []
    failure: list[BaseException] = []

    def enter_and_make() -> None:
        try:
            with open(f"/run/netns/{name}") as ns:
                if _libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name}")
            result.append(make())
        except BaseException as e:
            failure.append(e)

    thread = threading.Thread(target=enter_and_make, name=f"netns-{name}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


class _Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    inner: Callable[[], socket.socket]


class _Pipe(socketserver.BaseRequestHandler):
    """Copy both ways between an outside connection and a new inside one."""

    server: _Relay

    def handle(self) -> None:
        outside: socket.socket = self.request
        with self.server.inner() as inside, selectors.DefaultSelector() as ready:
            inside.settimeout(None)
            ready.register(outside, selectors.EVENT_READ, (outside, inside))
            ready.register(inside, selectors.EVENT_READ, (inside, outside))
            while ready.get_map():
                for key, _ in ready.select():
                    source, sink = key.data
                    _pump(source, sink, ready)


def _pump(source: socket.socket, sink: socket.socket, ready: selectors.BaseSelector) -> None:
    """Pass what ``source`` sent on to ``sink``; at its end (or a broken side),
    stop reading it and pass the end on, as a half-close."""
    with contextlib.suppress(OSError):
        if data := source.recv(65536):
            sink.sendall(data)
            return
    ready.unregister(source)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _check_can() -> None:
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (ip netns add)")
    for tool, fix in (("ip", "apt-get install iproute2"), ("nft", "scripts/ensure-nftables")):
        if shutil.which(tool) is None:
            raise NetnsUnavailable(f"`{tool}` is missing: run {fix}")


def _delete(space: LossyNamespace) -> None:
    # Only processes of this test's own namespace: nothing else can be in it.
    for pid in space.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _ip("netns", "delete", space.name)


@contextlib.contextmanager
def lossy_namespace(prefix: str = "ep") -> Iterator[LossyNamespace]:
    """A fresh namespace, ``lo`` up and no loss yet, deleted when the block ends."""
    _check_can()
    space = LossyNamespace(f"{prefix}-{uuid.uuid4().hex[:12]}")
    _ip("netns", "add", space.name)
    try:
        _ip("-n", space.name, "link", "set", "lo", "up")
        yield space
    finally:
        _delete(space)


# Multicast tests (mDNS, WS-Discovery) need isolation, not loss: zeroconf binds 0.0.0.0:5353
# and multicasts, which must reach neither the host's network nor another test's
# zeroconf. In a namespace of their own, multicast on its ``lo`` works.


@contextlib.contextmanager
def private_namespace(prefix: str = "ep") -> Iterator[str]:
    """A fresh namespace with only ``lo`` (up), deleted with whatever runs in it when
    the block ends; yields its name. Needs root and ``ip`` (not ``nft``)."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("`ip` is missing: run apt-get install iproute2")
    space = LossyNamespace(f"{prefix}-{uuid.uuid4().hex[:12]}")
    _ip("netns", "add", space.name)
    try:
        _ip("-n", space.name, "link", "set", "lo", "up")
        yield space.name
    finally:
        _delete(space)


def run_inside(name: str, make: Callable[[], T]) -> T:
    """``make()`` in a thread of its own inside namespace ``name``: give it
    ``lambda: asyncio.run(...)`` and every socket of that event loop stays inside."""
    return _inside(name, make)
