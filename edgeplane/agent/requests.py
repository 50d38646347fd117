"""Answering the hub's requests (a workload's log tail, for ``edgeplane logs``).

The agent only dials out, so the hub queues requests for this site: they come down the
site's stream (protocol v2, handed to ``Answerer``) or the agent long-polls for them
(v1, ``serve_requests``), and each answer is posted back. A runtime that reads logs
over the network (Kubernetes: the assignment's pods) has an async ``read_logs``; an
answer waits for it at most ``READ_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from edgeplane.agent.backoff import Backoff
from edgeplane.agent.errors import HubRefused, HubUnreachable
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.runtimes import Runtime

log = logging.getLogger("edgeplane.agent.requests")
WAIT_SECONDS = 25
MAX_TAIL = 10_000
READ_SECONDS = 8.0
"""Within the 10 s the hub waits for an answer, so that a slow cluster gets a message."""


async def answer(runtime: Runtime, request: dict[str, Any]) -> tuple[str, str | None]:
    """The text of the answer, and an error message when there is none."""
    if request.get("type") != "logs":
        return "", f"this agent does not handle requests of type {request.get('type')!r}"
    key = str(request.get("assignment"))
    tail = max(1, min(int(request.get("tail") or 100), MAX_TAIL))
    try:
        return await _tail(runtime, key, tail), None
    except KeyError:
        return "", f"no workload of assignment {key!r} runs at this site (yet)"
    except TimeoutError:
        return "", f"the logs of assignment {key!r} were not read within {READ_SECONDS:.0f} s"
    except LogsUnreadable as e:
        return "", f"the logs of assignment {key!r} were not read: {e}"


class LogsUnreadable(Exception):
    """A runtime's ``read_logs`` failed (the cluster refused or went away)."""


async def _tail(runtime: Runtime, key: str, tail: int) -> str:
    read_logs: Callable[[str, int], Awaitable[str]] | None = getattr(runtime, "read_logs", None)
    if read_logs is None:
        return runtime.log_tail(key, tail)
    async with asyncio.timeout(READ_SECONDS):
        try:
            return await read_logs(key, tail)
        except (KeyError, TimeoutError):
            raise
        except Exception as e:  # the cluster's refusal, said to the user as it is
            raise LogsUnreadable(str(e)) from e


MAX_ANSWERING = 16
"""Requests answered at once from the stream: as many as the hub keeps waiting per site."""
_REQUEST_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


async def answer_one(link: HubLink, site: str, runtime: Runtime, request: Any) -> None:
    """Do one request and post its answer (``POST /sites/{site}/requests/{id}``)."""
    if not isinstance(request, dict) or not _REQUEST_ID.fullmatch(str(request.get("id"))):
        log.warning("a request without a valid id is dropped: %.200r", request)
        return  # an id is a path segment: never post to a path the hub did not name
    text, error = await answer(runtime, request)
    headers = {"X-Request-Error": error} if error else {}
    await link.post_text(f"{API}/sites/{site}/requests/{request['id']}", text, headers)


class Answerer:
    """Answers the requests the site's stream hands it, each in a task of its own (a
    slow cluster's log read must not hold the stream up), at most ``MAX_ANSWERING`` at
    once; when the hub has no stream, ``poll`` long-polls them as protocol v1 does."""

    def __init__(self, link: HubLink, site: str, runtime: Runtime) -> None:
        self._link, self._site, self._runtime = link, site, runtime
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, request: Any) -> None:
        if len(self._tasks) >= MAX_ANSWERING:
            log.warning("%d requests are being answered already: one is dropped", MAX_ANSWERING)
            return
        task = asyncio.create_task(self._answer(request), name="request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: Any) -> None:
        try:
            await answer_one(self._link, self._site, self._runtime, request)
        except (HubUnreachable, HubRefused) as e:
            log.warning("a request's answer was not sent: %s", e)
        except Exception:  # a request of the wrong shape must not end the agent
            log.exception("a request was not answered")

    async def poll(self) -> None:
        await serve_requests(self._link, self._site, self._runtime)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)


async def serve_requests(link: HubLink, site: str, runtime: Runtime) -> None:
    """Protocol v1: long-poll the site's request queue and answer what comes."""
    backoff = Backoff()
    path = f"{API}/sites/{site}/requests"
    while True:
        try:
            page = await link.call(
                "GET",
                path,
                params={"waitSeconds": str(WAIT_SECONDS)},
                wait_seconds=WAIT_SECONDS + 10,
            )
            backoff.reset()
            for request in page.get("items") or []:
                await answer_one(link, site, runtime, request)
        except (HubUnreachable, HubRefused) as e:
            delay = backoff.next()
            log.warning("request poll: %s; retrying in %.1f s", e, delay)
            await asyncio.sleep(delay)
        except Exception:  # a request of the wrong shape must not end the agent
            delay = backoff.next()
            log.exception("request poll failed; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
