"""Waiting in tests: poll a check until it holds, giving up at a deadline.

``wait_until`` polls from plain code (it blocks the thread between tries);
``wait_until_async`` awaits between tries so the event loop keeps running whatever the
test waits on, and takes a sync or an async check. Both return the value that held, so
a test can go on with it, and fail naming ``what`` and the last value (or error) seen.

The deadline is only when to give up: no test asserts how long anything took, so a
slow machine makes a run slower, never red. Neighbours: ``ports`` (a free loopback
port), ``fleet`` (``wait_for``: the patience for a restarting hub or agent).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")
Errors = tuple[type[BaseException], ...]


class Waiting:
    """One wait's deadline and what it saw last, to say why it gave up."""

    def __init__(self, what: str, within: float) -> None:
        self.what, self.within = what, within
        self.deadline = time.monotonic() + within
        self.last: object = None

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def failure(self, seen: object = None) -> AssertionError:
        extra = f"; {seen}" if seen is not None else ""
        return AssertionError(
            f"gave up after {self.within} s waiting for {self.what} "
            f"(last seen: {self.last!r}){extra}"
        )


def wait_until(
    check: Callable[..., T | None],
    what: str = "the condition",
    within: float = 30.0,
    *,
    accept: Callable[[T], object] = bool,
    every: float = 0.05,
    ignore: Errors = (),
    seen: Callable[[], object] | None = None,
) -> T:
    """The first value of ``check()`` that is not None and that ``accept`` takes (by
    default: the first truthy one). Errors of the types in ``ignore`` count as "not
    yet"; ``seen()`` adds to the failure what was there instead. ``check`` may bind a
    loop's variable as a default argument."""
    waiting = Waiting(what, within)
    while True:
        try:
            found = check()
            if found is not None and accept(found):
                return found
            waiting.last = found
        except ignore as e:
            waiting.last = e
        if waiting.over():
            raise waiting.failure(seen() if seen else None)
        time.sleep(every)


@overload
async def wait_until_async(
    check: Callable[..., Awaitable[T | None]],
    what: str = ...,
    within: float = ...,
    *,
    accept: Callable[[T], object] = ...,
    every: float = ...,
    ignore: Errors = ...,
    seen: Callable[[], Awaitable[object]] | None = ...,
) -> T: ...


@overload
async def wait_until_async(
    check: Callable[..., T | None],
    what: str = ...,
    within: float = ...,
    *,
    accept: Callable[[T], object] = ...,
    every: float = ...,
    ignore: Errors = ...,
    seen: Callable[[], Awaitable[object]] | None = ...,
) -> T: ...


async def wait_until_async(
    check: Callable[[], Any],
    what: str = "the condition",
    within: float = 30.0,
    *,
    accept: Callable[[Any], object] = bool,
    every: float = 0.05,
    ignore: Errors = (),
    seen: Callable[[], Awaitable[object]] | None = None,
) -> Any:
    """``wait_until`` for a test on the event loop: the check may be a coroutine
    function, and ``seen`` is awaited."""
    waiting = Waiting(what, within)
    while True:
        try:
            found = check()
            if inspect.isawaitable(found):
                found = await found
            if found is not None and accept(found):
                return found
            waiting.last = found
        except ignore as e:
            waiting.last = e
        if waiting.over():
            raise waiting.failure(await seen() if seen else None)
        await asyncio.sleep(every)
