"""``edgeplane sim``: run a simulated fleet, print one JSON line per report period.

It reads commands on stdin (``grow N``: N sites in all; ``quit``), stops on SIGTERM or
SIGINT, and raises its descriptor limit to what the fleet needs (saying on stderr when it
cannot). Bad flags are usage errors (exit 2) naming the flag. Neighbours:
``sim.options`` (the flags), ``sim.fleet`` (the fleet), ``edgeplane.main`` (execs this).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import stat
import sys
from pathlib import Path

from edgeplane.sim.fleet import SimFleet
from edgeplane.sim.hubcalls import POOL_SIZE
from edgeplane.sim.options import MAX_SITES, SimOptions, from_arguments, parser

log = logging.getLogger("edgeplane.sim")
COMMAND_BYTES = 1024
NR_OPEN = Path("/proc/sys/fs/nr_open")
HUB_CONNECTIONS_PER_PEER = 256
"""The hub's default (``hub/limits.py``, which the simulator does not import)."""


def descriptors_needed(options: SimOptions, sites: int) -> int:
    """Two kept connections per site (an older hub's watch and poll; one with the
    stream), the short-call pools, and room for the rest."""
    return 2 * sites + options.source_addresses * POOL_SIZE + 256


def crowded(options: SimOptions, sites: int) -> str | None:
    """A warning when the sites of one source address may pass the hub's default cap of
    connections per peer address (one stream per site, or a watch and a poll)."""
    per_site = 1 if options.hub_protocol == "v2" else 2
    per_address = -(-sites // options.source_addresses) * per_site + POOL_SIZE
    if per_address <= HUB_CONNECTIONS_PER_PEER:
        return None
    enough = -(-sites * per_site // (HUB_CONNECTIONS_PER_PEER - POOL_SIZE))
    return (
        f"edgeplane sim: up to {per_address} connections per source address, over the "
        f"hub's default --connections-per-peer {HUB_CONNECTIONS_PER_PEER}"
        f"{' (a hub without the stream route)' if per_site == 2 else ''}: "
        f"give --source-addresses {enough} or more"
    )


def raise_nofile(needed: int) -> str | None:
    """Raise RLIMIT_NOFILE to ``needed`` (the hard limit too when root may); a sentence
    saying what is missing when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    if hard < needed:
        with contextlib.suppress(OSError, ValueError):
            ceiling = int(NR_OPEN.read_text())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, ceiling), min(needed, ceiling)))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    return (
        f"edgeplane sim: the descriptor limit is {soft} (hard {hard}) but {needed} may be "
        "needed: sites past it will fail to connect; raise it (ulimit -n, or run as root)"
    )


def prepare(options: SimOptions, sites: int) -> None:
    """Descriptors for ``sites``, and a warning on stderr for what may not suffice."""
    for problem in (raise_nofile(descriptors_needed(options, sites)), crowded(options, sites)):
        if problem:
            print(problem, file=sys.stderr, flush=True)


def read_token(path: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as e:
        parser().error(f"--token-file {path}: cannot read it ({e.strerror or e})")
    except UnicodeDecodeError:
        parser().error(f"--token-file {path}: not text; give a file holding one admin token")
    if not token or any(c.isspace() for c in token):
        parser().error(f"--token-file {path}: give a file holding one admin token")
    return token


async def report(fleet: SimFleet, seconds: float, quit_: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(seconds)
        if not emit(fleet):
            quit_.set()  # nobody reads us any more
            return


def emit(fleet: SimFleet) -> bool:
    """Print one stats line; False when stdout is gone (the reader quit)."""
    try:
        print(fleet.stats().line(), flush=True)
    except BrokenPipeError:
        # The interpreter flushes stdout at exit: into nothing, not a second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


def readable_stream(fd: int) -> bool:
    """Whether ``fd`` is a pipe, a socket or a terminal (what a read pipe transport takes)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


async def commands(fleet: SimFleet, quit_: asyncio.Event) -> None:
    """``grow N`` and ``quit`` from stdin; its end is not a quit (stdin may be /dev/null)."""
    if not readable_stream(sys.stdin.fileno()):
        return  # /dev/null or a file: no commands (uvloop aborts on a read pipe of those)
    reader = asyncio.StreamReader(limit=COMMAND_BYTES)
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError) as e:
        print(f"edgeplane sim: stdin is not readable for commands: {e}", file=sys.stderr)
        return
    growing: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        words = line.decode(errors="replace").split()
        if words == ["quit"]:
            quit_.set()
            return
        grow = len(words) == 2 and words[0] == "grow" and words[1].isdigit()
        if grow and fleet.target <= int(words[1]) <= MAX_SITES:
            prepare(fleet.options, int(words[1]))
            task = asyncio.create_task(fleet.join(int(words[1])))
            growing.add(task)
            task.add_done_callback(growing.discard)
            continue
        print(
            f"edgeplane sim: {line[:80]!r}: give 'grow N' ({fleet.target} <= N <= {MAX_SITES}) "
            "or 'quit'",
            file=sys.stderr,
            flush=True,
        )


async def simulate(options: SimOptions) -> None:
    fleet, quit_ = SimFleet(options), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, quit_.set)
    tasks = [
        asyncio.create_task(fleet.run()),
        asyncio.create_task(fleet.join(options.sites)),
        asyncio.create_task(report(fleet, options.report_seconds, quit_)),
        asyncio.create_task(commands(fleet, quit_)),
    ]
    try:
        await quit_.wait()
    finally:
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        emit(fleet)
        await fleet.stop()
        await tasks[0]


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    options = from_arguments(args, read_token(args.token_file))
    if args.ca_file and not Path(args.ca_file).is_file():
        parser().error(f"--ca-file {args.ca_file}: no such file")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    prepare(options, options.sites)
    try:
        import uvloop  # the event loop costs half the CPU with it

        uvloop.run(simulate(options))
    except ImportError:
        asyncio.run(simulate(options))
