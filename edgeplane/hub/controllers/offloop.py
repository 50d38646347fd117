"""CPU-heavy work (placement passes, CEL evaluation) off the event loop, with deadlines.

The event loop serves every request; a placement pass over a large fleet, or a policy
that is slow to evaluate, must not make a GET wait for it. ``Worker`` runs such work
in its own thread(s) and waits for it at most ``seconds``:

* the caller gets ``Overdue`` when the deadline passes (explain and dry-run answer
  503; the placement loop retries with backoff);
* the work itself is told the same deadline (``deadline()``), and the planner stops
  between applications once it has passed, so an overdue pass does not go on using a
  core; work still queued behind it is cancelled and never starts.

Threads, not processes: the planner keeps its state from pass to pass and most of its
time is in numpy, which lets the loop run. CEL evaluations hold the interpreter lock,
so each is kept short by the cost limits of ``governance.costs``, not by this module.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

PASS_SECONDS = 60.0
"""A placement pass's deadline (the benchmark's full plan of 10,000 sites x 1,000
applications takes 0.4 s)."""
REQUEST_SECONDS = 10.0
"""An explain or dry-run request's deadline, queueing included."""


class Overdue(Exception):
    """Work that did not finish before its deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} took longer than {seconds:g} s")
        self.what, self.seconds = what, seconds


class Worker:
    """A small pool of threads for one kind of heavy work, each call with a deadline."""

    def __init__(self, name: str, seconds: float, threads: int = 1) -> None:
        self.name, self.seconds = name, seconds
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"edgeplane-{name}")

    def deadline(self) -> float:
        """A ``time.monotonic()`` deadline for work started now."""
        return time.monotonic() + self.seconds

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread; Overdue after ``seconds``
        (waiting for a free thread counts: a flood of requests is not queued forever)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        try:
            async with asyncio.timeout(self.seconds):
                return await future
        except TimeoutError:
            raise Overdue(self.name, self.seconds) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
