"""Device discovery: how soon a fresh handler finds N devices, and what the agent weighs
with every handler running.

Simulators, one process besides mosquitto (``benchmarks/support/discoverysims.py``): a
pymodbus PLC that identifies itself at unit ids 1..N; min(N, 4) asyncua servers (they
are heavy: about 2 s and tens of MB each to start); N Sparkplug B devices of one edge
node (its NBIRTH, then N DBIRTHs) at a real mosquitto; N mDNS services; N ONVIF cameras
(a device service each) behind one WS-Discovery responder that answers the handler's
unicast probe with a ProbeMatches for each. As root everything runs inside a private
network namespace (zeroconf binds 0.0.0.0:5353); otherwise on the host's loopback,
without mDNS ("skipped: needs root").

* ``discover_s_per_protocol``: a fresh handler in this process (its module imported
  beforehand), timed from the call of its first ``scan()`` to the return of the first
  scan whose result holds every simulated device, scans repeated 10 ms apart. MQTT
  listens: after its first scan the benchmark waits until the listener has subscribed,
  then publishes the NBIRTH and the N DBIRTHs (QoS 1, each acknowledged), all within
  the time measured. ONVIF: every scan reads answers for the whole probe window.
* ``agent_rss_mb_all_handlers``: a real hub and two real agents; a DiscoveryProfile of
  every protocol aimed at the simulators selects one agent's site. Once the hub lists
  all its Devices (GET /api/v1alpha1/devices; the MQTT edge node is one more; births are
  published again every second meanwhile, as the agent subscribes when it will), the
  agent's VmRSS (``/proc/<pid>/status``), median over 3 s. ``agent_rss_mb_idle``: the
  other agent, whose site no profile selects, at the same moment.

Medians over ``--runs``. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.discoveryfigures import (  # noqa: E402
    DEVICES_MAX,
    MODBUS_TIMEOUT_SECONDS,
    ONVIF_PROBE_SECONDS,
    PROTOCOLS,
    Layout,
    cell,
    interval_seconds,
    median_of,
    ratio,
    rounded,
    runs_cell,
)
from benchmarks.support.discoveryrun import (  # noqa: E402
    POLL_SECONDS,
    AgentRun,
    Timing,
    agent_run,
    handler_runs,
)
from benchmarks.support.discoverysims import Stage, staged  # noqa: E402

DEFINITION = (
    "(seconds: from the call of a fresh handler's first scan() to the return of the first",
    " scan whose result holds every simulated device; scans "
    f"{POLL_SECONDS * 1000:.0f} ms apart, end to start.",
    " MQTT listens: after its first scan, once its listener has subscribed, the NBIRTH and",
    " the N DBIRTHs are published (QoS 1, each acknowledged), within the time measured.",
    f" ONVIF: every scan waits out its {ONVIF_PROBE_SECONDS:g} s probe window, then asks each "
    "camera for its",
    " device information. OPC UA: min(N, 4) servers (asyncua servers are heavy), one",
    f" device each. Modbus: one connection, N unit ids, timeoutSeconds {MODBUS_TIMEOUT_SECONDS:g}.",
    " Run 1 also pays each library's first use in this process.)",
)
SIMULATED_BY = {
    "modbus": "1 pymodbus PLC, unit ids 1..N",
    "opcua": "asyncua servers, 1 each",
    "mqtt": "mosquitto, 1 NBIRTH + N DBIRTHs",
    "mdns": "N zeroconf services",
    "onvif": "1 responder, N ProbeMatches",
}


def bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text}: give a whole number from {low} to {high}")
        return value

    return parse


def told(run: int, timing: Timing) -> None:
    what = (
        f"{timing.seconds:.3f} s, {timing.scans} scan(s)"
        if timing.seconds is not None
        else timing.failure
    )
    print(f"  run {run} {timing.protocol}: {what}", file=sys.stderr, flush=True)


def agent_runs(stage: Stage, tmp: Path, runs: int) -> list[AgentRun]:
    protocols = stage.protocols(PROTOCOLS)
    found = []
    for n in range(1, runs + 1):
        found.append(agent_run(stage, tmp / f"fleet-{n}", protocols))
        a = found[-1]
        what = a.failure or (
            f"idle {a.rss_idle_mb:.1f} MB, all handlers {a.rss_all_mb:.1f} MB, "
            f"devices at the hub after {a.at_hub_s:.1f} s"
        )
        print(f"  agents run {n}: {what}", file=sys.stderr, flush=True)
    return found


def seconds(timings: list[Timing]) -> list[float | None]:
    return [t.seconds for t in timings]


def discovery_table(
    stage: Stage, timings: dict[str, list[Timing]], runs: int, setup_s: float
) -> None:
    layout = stage.layout
    where = f"network namespace {stage.space}" if stage.space else "the host's loopback"
    print(f"\ndiscovery: N = {layout.devices} devices a protocol, {runs} run(s), on {where}")
    print(f"(simulators and mosquitto up in {setup_s:.1f} s)")
    head = f"{'protocol':<8} {'devices':>7} {'median s':>9} {'scans':>5}  {'runs s':<26} "
    print(head + "simulated by")
    for protocol in PROTOCOLS:
        found = timings.get(protocol, [])
        if skipped := stage.skipped.get(protocol):
            print(f"{protocol:<8} {layout.count(protocol):>7}  {skipped}")
            continue
        median = median_of(seconds(found))
        scans = median_of([float(t.scans) for t in found if t.seconds is not None])
        cells = [
            f"{protocol:<8}",
            f"{layout.count(protocol):>7}",
            f"{cell(median):>9}",
            f"{cell(scans, 0, '-'):>5}",
            f" {runs_cell(seconds(found)):<26}",
            SIMULATED_BY[protocol],
        ]
        print(" ".join(cells))
        for t in found:
            if t.failure:
                print(f"  {protocol}: a run failed: {t.failure}")
    print("\n".join(DEFINITION))


def agent_table(stage: Stage, agents: list[AgentRun], runs: int) -> None:
    protocols = stage.protocols(PROTOCOLS)
    idle = median_of([a.rss_idle_mb for a in agents])
    every = median_of([a.rss_all_mb for a in agents])
    print(f"\nagent VmRSS, median of {runs} run(s), read once the hub listed every device")
    print(f"{'agent':<28} {'RSS MB':>8}  {'runs MB':<20}")
    rows = [
        ("idle (no profile)", idle, [a.rss_idle_mb for a in agents]),
        (f"all handlers ({len(protocols)})", every, [a.rss_all_mb for a in agents]),
    ]
    for name, value, each in rows:
        print(f"{name:<28} {cell(value, 1):>8}  {runs_cell(each, 1):<20}")
    print(f"ratio all/idle: {cell(ratio(every, idle), 2)}")
    interval = interval_seconds(stage.layout, protocols)
    at_hub_s = cell(median_of([a.at_hub_s for a in agents]), 1)
    print(
        f"(profile: {', '.join(protocols)}; intervalSeconds {interval}, the shortest the hub\n"
        f" accepts; every device at the hub a median {at_hub_s} s after the agents started)"
    )
    for protocol, why in stage.skipped.items():
        print(f"  {protocol} left out of the profile: {why}")
    for n, a in enumerate(agents, 1):
        if a.failure:
            print(f"  run {n} failed: {a.failure}")


def summary(
    stage: Stage, timings: dict[str, list[Timing]], agents: list[AgentRun], runs: int
) -> dict[str, Any]:
    layout: Layout = stage.layout
    idle = median_of([a.rss_idle_mb for a in agents])
    every = median_of([a.rss_all_mb for a in agents])
    return {
        "discover_s_per_protocol": {
            p: rounded(median_of(seconds(timings.get(p, [])))) for p in PROTOCOLS
        },
        "devices": layout.devices,
        "devices_per_protocol": {
            p: None if p in stage.skipped else layout.count(p) for p in PROTOCOLS
        },
        "opcua_servers": len(layout.opcua_ports),
        "agent_rss_mb_all_handlers": rounded(every, 1),
        "agent_rss_mb_idle": rounded(idle, 1),
        "agent_rss_ratio_all_over_idle": rounded(ratio(every, idle), 2),
        "agent_profile_protocols": stage.protocols(PROTOCOLS),
        "agent_devices_at_hub_s": rounded(median_of([a.at_hub_s for a in agents]), 1),
        "discover_s_runs": {
            p: [rounded(s) for s in seconds(timings.get(p, []))] for p in PROTOCOLS
        },
        "onvif_probe_seconds": ONVIF_PROBE_SECONDS,
        "modbus_timeout_seconds": MODBUS_TIMEOUT_SECONDS,
        "skipped": stage.skipped,
        "failed_runs": sum(t.failure is not None for ts in timings.values() for t in ts)
        + sum(a.failure is not None for a in agents),
        "network_namespace": stage.space is not None,
        "runs": runs,
    }


def terminated(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds: the namespace and its processes go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=bounded(1, 100), default=3, help="Runs of each.")
    parser.add_argument(
        "--devices",
        type=bounded(1, DEVICES_MAX),
        default=16,
        help=f"N, the devices a protocol (at most {DEVICES_MAX}: a profile's unit id list).",
    )
    args = parser.parse_args()
    # Before onvif's import, which calls basicConfig(level=INFO) (httpx would log each
    # request): the agent configures its logging first, too.
    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ep-discovery-") as name:
        tmp = Path(name)
        with staged(args.devices, tmp) as stage:
            setup_s = time.monotonic() - started
            print(f"  simulators up in {setup_s:.1f} s", file=sys.stderr, flush=True)
            protocols = stage.protocols(PROTOCOLS)
            timings = handler_runs(stage, args.runs, protocols, told)
            agents = agent_runs(stage, tmp, args.runs)
    discovery_table(stage, timings, args.runs, setup_s)
    agent_table(stage, agents, args.runs)
    print(f"(whole benchmark: {time.monotonic() - started:.0f} s)")
    result = summary(stage, timings, agents, args.runs)
    print(json.dumps(result))
    if result["failed_runs"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
