"""Group commit: writes made at the same time wait in one queue and commit together.

Each write is queued with a future. One committer task takes what is queued (at most
``max_writes``) and hands that batch to ``run``, which writes it in one transaction (one
fsync for all) and settles each write's future with its own result or error. While a
batch commits, new writes queue behind it, so batches grow with the load and a lone
write waits for nobody: no timer, no added latency.

The committer is a task of its own, so a caller that is cancelled (its client went
away) cancels nobody else's write; its own is skipped when it has not started yet.
``run`` may hand back writes it did not reach (a batch is bounded by bytes too): they go
first in the next batch, in their order.

Neighbours: ``writes`` runs a batch against the database; ``sql`` queues its writes here.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

W = TypeVar("W")

MAX_WRITES = 256
"""Writes in one batch: bounds one transaction's length and the wait behind it."""


@dataclass(eq=False)
class Queued(Generic[W]):
    write: W
    future: asyncio.Future[Any]

    def settle(self, outcome: object) -> None:
        """Hand the caller its result, or raise ``outcome`` to it if it is an error."""
        if self.future.done():  # the caller was cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


Run = Callable[[list[Queued[W]]], Awaitable[Sequence[Queued[W]]]]


class GroupCommit(Generic[W]):
    def __init__(self, run: Run[W], max_writes: int = MAX_WRITES) -> None:
        self._run, self._max_writes = run, max_writes
        self._queue: collections.deque[Queued[W]] = collections.deque()
        self._committer: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches run so far (what the grouping saved is writes / batches)."""

    async def submit(self, write: W) -> Any:
        """Queue ``write`` and wait for its own outcome."""
        queued = Queued(write, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit(), name="edgeplane-group-commit")
        return await queued.future

    async def drained(self) -> None:
        """Wait until every queued write is settled (the store is closing)."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    async def _commit(self) -> None:
        while self._queue:
            batch = self._take()
            if not batch:
                continue
            self.batches += 1
            try:
                leftover = await self._run(batch)
            except Exception as e:
                # ``run`` settles every write itself: this is a bug, and nobody may wait
                # forever for it.
                for queued in batch:
                    queued.settle(e)
                continue
            except BaseException:  # cancelled (the loop is closing): so are the writes
                for queued in (*batch, *self._queue):
                    queued.future.cancel()
                raise
            self._queue.extendleft(reversed(leftover))

    def _take(self) -> list[Queued[W]]:
        batch: list[Queued[W]] = []
        while self._queue and len(batch) < self._max_writes:
            queued = self._queue.popleft()
            if not queued.future.done():  # a cancelled caller's write is not started
                batch.append(queued)
        return batch
