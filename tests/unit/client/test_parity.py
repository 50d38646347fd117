"""The blocking and the async client offer the same calls: the same public names and
the same signatures, async-ness aside (``close``/``aclose``, ``Generator``/
``AsyncGenerator``). They drifted once (the async one lacked dry-run and explain);
``HubClient`` now wraps ``AsyncHubClient``, and this test keeps it so."""

from __future__ import annotations

import inspect
import re

import httpx

from edgeplane.client.answers import Body
from edgeplane.client.hub import AsyncHubClient, HubClient

ASYNC_NAMES = {"close": "aclose"}
"""A blocking call's name -> its async one's, where they differ."""


def _plain(text: str) -> str:
    """An annotation with async-ness removed: either generator reads as ``Iterator``."""
    return re.sub(r"(?:Async)?Generator\[(\w+), None(?:, None)?\]", r"Iterator[\1]", text)


def _signature(cls: type, name: str) -> str:
    return _plain(str(inspect.signature(getattr(cls, name))))


def _calls(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def differences(blocking: type, asynchronous: type) -> list[str]:
    """Each way the two clients' public calls differ, as a line."""
    found = []
    names = {ASYNC_NAMES.get(n, n): n for n in _calls(blocking)}
    for name in sorted(names.keys() ^ _calls(asynchronous)):
        found.append(f"{name}: only in {'HubClient' if name in names else 'AsyncHubClient'}")
    for name in [*sorted(names.keys() & _calls(asynchronous)), "__init__"]:
        sync, async_ = _signature(blocking, names.get(name, name)), _signature(asynchronous, name)
        if sync != async_:
            found.append(f"{name}: {sync} != {async_}")
    return found


def test_both_clients_offer_the_same_calls() -> None:
    assert differences(HubClient, AsyncHubClient) == []


async def test_both_clients_carry_the_same_attributes() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with HubClient("http://hub.test", None, transport=transport) as blocking:
        assert blocking.warnings == [] and blocking.server == "http://hub.test"
        attributes = {n for n in dir(blocking) if not n.startswith("_")} - {"close"}
    async with AsyncHubClient("http://hub.test", None, transport=transport) as asynchronous:
        expected = {n for n in dir(asynchronous) if not n.startswith("_")} - {"aclose"}
    assert attributes == expected


class _Drifted(AsyncHubClient):
    async def explain(self, application: str, site: str | None = None, why: bool = False) -> Body:
        return {}

    async def tail(self) -> str:
        return ""


def test_a_drift_is_found() -> None:
    """The check itself: a call only one side has, or a parameter added to one side."""
    found = differences(HubClient, _Drifted)
    assert [line.split(":")[0] for line in found] == ["tail", "explain"]
