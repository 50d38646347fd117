"""Answering the hub's requests (a workload's log tail, for ``edgeplane logs``).

The agent only dials out, so it long-polls the hub for requests queued for this site
and posts each answer back. A runtime that reads logs over the network (Kubernetes:
the assignment's pods) has an async ``read_logs``; an answer waits for it at most
``READ_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
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


async def serve_requests(link: HubLink, site: str, runtime: Runtime) -> None:
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
                text, error = await answer(runtime, request)
                headers = {"X-Request-Error": error} if error else {}
                await link.post_text(f"{path}/{request['id']}", text, headers)
        except (HubUnreachable, HubRefused) as e:
            delay = backoff.next()
            log.warning("request poll: %s; retrying in %.1f s", e, delay)
            await asyncio.sleep(delay)
        except Exception:  # a request of the wrong shape must not end the agent
            delay = backoff.next()
            log.exception("request poll failed; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
