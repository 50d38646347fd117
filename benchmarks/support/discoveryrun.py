"""What ``benchmarks/discovery.py`` measures against the simulators (``discoverysims``):
fresh handlers timed until they return every device, and a real hub with two real agents
weighed once the hub lists every device.

* ``handler_runs``: fresh handlers in this process (in a thread inside the stage's
  namespace, when there is one), one protocol at a time, each timed by
  ``time_discovery``.
* ``agent_run``: a hub and two agents (one whose site a profile of every protocol
  selects, one whose site none does), their VmRSS once the hub holds every device.

Neighbours: ``discoveryfigures`` (the pure side), ``tests.support.fleet``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pydantic import BaseModel

from benchmarks.support.discoveryfigures import (
    HOST,
    Layout,
    at_hub,
    births,
    identities,
    params,
    profile,
    shortfall,
)
from benchmarks.support.discoverysims import Stage
from benchmarks.support.procstat import rss_mb
from edgeplane.agent.discovery.base import Handler, load
from edgeplane.api import discovery as api
from tests.support.fleet import TRANSIENT, Agent, Fleet

SCAN_WITHIN_SECONDS = 30.0
"""From a handler's first scan until it must have found every device."""
POLL_SECONDS = 0.01
"""Between the end of one scan and the start of the next."""
CLOSE_SECONDS = 10.0
ONLINE_SECONDS = 60.0
AT_HUB_SECONDS = 90.0
REBIRTH_SECONDS = 1.0
SETTLE_SECONDS = 2.0
RSS_WINDOW_SECONDS = 3.0
RSS_EVERY_SECONDS = 0.5
ROLE = "discovery"
MODELS: Mapping[str, type[BaseModel]] = {
    "mqtt": api.MqttDiscovery,
    "mdns": api.MdnsDiscovery,
    "opcua": api.OpcuaDiscovery,
    "modbus": api.ModbusDiscovery,
    "onvif": api.OnvifDiscovery,
}


# -- fresh handlers, timed -----------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    protocol: str
    seconds: float | None
    """From the first scan's call to the return of the first scan holding every device."""
    scans: int
    failure: str | None = None


@dataclass
class _Progress:
    scans: int = 0
    seen: int = 0


def handler_runs(
    stage: Stage, runs: int, protocols: Collection[str], told: Callable[[int, Timing], None]
) -> dict[str, list[Timing]]:
    """``runs`` rounds of every protocol, one at a time, each with a fresh handler."""
    found: dict[str, list[Timing]] = {p: [] for p in protocols}

    async def rounds() -> None:
        for protocol in protocols:
            load(protocol)  # the module's import is not part of a scan
        for n in range(1, runs + 1):
            for protocol in protocols:
                timing = await time_discovery(stage.layout, protocol)
                found[protocol].append(timing)
                told(n, timing)

    stage.inside(lambda: asyncio.run(rounds()))
    return found


async def time_discovery(layout: Layout, protocol: str) -> Timing:
    """How long a fresh handler takes to return every simulated device. MQTT listens:
    after its first scan, once it has subscribed, the births are published (within the
    time measured)."""
    wanted = identities(layout, protocol)
    handler = load(protocol)(MODELS[protocol].model_validate(params(layout, protocol)))
    progress = _Progress()
    try:
        async with contextlib.AsyncExitStack() as stack:
            after_first = await _births_after_subscribing(stack, layout, handler, protocol)
            async with asyncio.timeout(SCAN_WITHIN_SECONDS):
                seconds = await _until_all(handler, wanted, progress, after_first)
        return Timing(protocol, seconds, progress.scans)
    except TimeoutError:
        why = (
            f"{progress.seen} of {len(wanted)} found in {progress.scans} scans "
            f"within {SCAN_WITHIN_SECONDS:g} s"
        )
        return Timing(protocol, None, progress.scans, why)
    except Exception as e:  # a scan that fails is the figure's failure, not the benchmark's
        return Timing(protocol, None, progress.scans, f"{type(e).__name__}: {e}")
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS):
                await handler.close()


async def _until_all(
    handler: Handler,
    wanted: frozenset[str],
    progress: _Progress,
    after_first: Callable[[], Awaitable[None]] | None,
) -> float:
    started = time.perf_counter()
    while True:
        found = await handler.scan()
        progress.scans += 1
        progress.seen = len(wanted & {f.identity for f in found})
        if progress.seen == len(wanted):
            return time.perf_counter() - started
        if progress.scans == 1 and after_first is not None:
            await after_first()
        await asyncio.sleep(POLL_SECONDS)


async def _births_after_subscribing(
    stack: contextlib.AsyncExitStack, layout: Layout, handler: Handler, protocol: str
) -> Callable[[], Awaitable[None]] | None:
    """For MQTT: a publisher connected now, and what publishes the births once the
    handler's listener has subscribed (births are not retained)."""
    if protocol != "mqtt":
        return None
    import aiomqtt

    from edgeplane.agent.discovery.mqtt import MqttHandler

    assert isinstance(handler, MqttHandler) and layout.broker_port is not None
    client = await stack.enter_async_context(aiomqtt.Client(HOST, layout.broker_port))

    async def publish() -> None:
        # The handler's flag, not an event: poll it as its own tests do.
        while not handler.listening:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for topic, payload in births(layout.devices):
            await client.publish(topic, payload, qos=1)

    return publish


# -- a hub and two agents ------------------------------------------------------------


@dataclass(frozen=True)
class AgentRun:
    rss_idle_mb: float | None
    rss_all_mb: float | None
    at_hub_s: float | None
    """From the agents' start until the hub held every device of the site."""
    failure: str | None = None


def agent_run(stage: Stage, root: Path, protocols: Collection[str]) -> AgentRun:
    """A hub, an agent whose site a profile of ``protocols`` selects and one whose site
    no profile selects; their VmRSS once the hub holds every device. Driven from a
    thread inside the stage: the hub's port is reached there, without a relay."""
    return stage.inside(lambda: _agent_run(stage, root, protocols))


def _agent_run(stage: Stage, root: Path, protocols: Collection[str]) -> AgentRun:
    fleet = Fleet(root, wrap=stage.wrap)
    try:
        return _measure_agents(fleet, stage, protocols)
    except (*TRANSIENT, AssertionError, RuntimeError, TimeoutError) as e:
        return AgentRun(None, None, None, f"{type(e).__name__}: {e}{_log_tail(fleet)}")
    finally:
        fleet.close()


def _measure_agents(fleet: Fleet, stage: Stage, protocols: Collection[str]) -> AgentRun:
    fleet.start_hub()
    # Before the agents: each asks for its profiles as it starts, then every 30 s.
    fleet.ok("POST", "/discoveryprofiles", profile(stage.layout, "bench-all", protocols, ROLE))
    wanted = at_hub(stage.layout, protocols)
    started = time.monotonic()
    agents = {role: fleet.add_agent(role, {"role": role}) for role in ("idle", ROLE)}
    with _rebirths(stage, "mqtt" in protocols) as failed:
        for name in agents:
            _poll(partial(_online, fleet, name), f"{name} Online", ONLINE_SECONDS)
        _poll(
            lambda: shortfall(_at_site(fleet, ROLE), wanted) is None,
            f"every device at the hub ({wanted})",
            AT_HUB_SECONDS,
            seen=lambda: f"missing: {shortfall(_at_site(fleet, ROLE), wanted)}{failed()}",
        )
    at_hub_s = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)  # the report's answer handled, the scans' garbage freed
    rss = _sampled_rss({role: _agent_pid(agent) for role, agent in agents.items()})
    return AgentRun(rss["idle"], rss[ROLE], at_hub_s)


def _online(fleet: Fleet, site: str) -> bool:
    return fleet.site_phase(site) == "Online"


def _at_site(fleet: Fleet, site: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for device in fleet.ok("GET", "/devices")["items"]:
        if device["spec"]["site"] == site:
            protocol = str(device["spec"]["protocol"])
            counts[protocol] = counts.get(protocol, 0) + 1
    return counts


@contextlib.contextmanager
def _rebirths(stage: Stage, wanted: bool) -> Iterator[Callable[[], str]]:
    """The edge node's births again every ``REBIRTH_SECONDS`` (from a thread inside
    the stage) until the block ends: the agent's listener subscribes when it will, and
    births are not retained. Yields what says why the publisher failed, if it did."""
    stop, errors = threading.Event(), list[str]()

    def publish() -> None:
        try:
            stage.inside(lambda: asyncio.run(_publish_until(stage.layout, stop)))
        except Exception as e:
            errors.append(f"; the births' publisher failed: {type(e).__name__}: {e}")

    thread = threading.Thread(target=publish, name="rebirths", daemon=True)
    if wanted:
        thread.start()
    try:
        yield lambda: "".join(errors)
    finally:
        stop.set()
        if wanted:
            thread.join(CLOSE_SECONDS)


async def _publish_until(layout: Layout, stop: threading.Event) -> None:
    import aiomqtt

    assert layout.broker_port is not None
    async with aiomqtt.Client(HOST, layout.broker_port) as client:
        while not stop.is_set():
            for topic, payload in births(layout.devices):
                await client.publish(topic, payload, qos=1)
            await asyncio.sleep(REBIRTH_SECONDS)


def _agent_pid(agent: Agent) -> int:
    """The agent's own pid (``ip netns exec`` execs it: the same process)."""
    assert agent.process is not None
    pid = agent.process.pid
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    if b"edgeplane.agent" not in argv:
        raise RuntimeError(f"pid {pid} is not the agent {agent.name}: {argv[:200]!r}")
    return pid


def _sampled_rss(pids: Mapping[str, int]) -> dict[str, float]:
    """The median VmRSS (MB) of each over ``RSS_WINDOW_SECONDS``, sampled together."""
    samples: dict[str, list[float]] = {name: [] for name in pids}
    end = time.monotonic() + RSS_WINDOW_SECONDS
    while time.monotonic() < end:
        for name, pid in pids.items():
            samples[name].append(rss_mb(pid))
        time.sleep(RSS_EVERY_SECONDS)
    return {name: statistics.median(values) for name, values in samples.items()}


def _poll(
    check: Callable[[], bool], what: str, within: float, seen: Callable[[], str] | None = None
) -> None:
    """Until ``check()``; TimeoutError naming ``what`` (and ``seen()``) past ``within``.
    A hub or agent not up yet raises meanwhile: that counts as "not yet"."""
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(*TRANSIENT):
            if check():
                return
        if time.monotonic() > deadline:
            extra = ""
            with contextlib.suppress(*TRANSIENT):
                extra = f"; {seen()}" if seen else ""
            raise TimeoutError(f"gave up after {within:g} s waiting for {what}{extra}")
        time.sleep(0.2)


def _log_tail(fleet: Fleet) -> str:
    tails = []
    for agent in fleet.agents.values():
        with contextlib.suppress(OSError):
            tails.append(f"\n  {agent.log.name} ends:\n" + agent.log.read_text()[-1500:])
    return "".join(tails)
