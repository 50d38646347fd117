"""Bytes per idle site per second between real agents and a real hub, v1 vs v2, HTTP and TLS.

For each agent protocol (``--hub-protocol v1``: PATCH status heartbeats, an assignment
watch and a relay long poll, what agents did before issue 11; ``v2``: the heartbeat
endpoint and one stream per agent) and each transport (plain HTTP, and HTTPS with the
hub's own CA), this starts a real hub and ``--agents`` real agent processes with their
default timings (10 s heartbeats) and no workload. The agents dial a counting TCP proxy
on loopback (``benchmarks/support/proxy.py``) that forwards to the hub and counts every
byte both ways; over TLS it counts the TLS records, as a real uplink carries them.
Once every site is Online it settles (``--settle-seconds``), then counts over
``--window`` seconds: bytes / agents / seconds. The headline ``kbit_per_s`` is v2 over
TLS (hubs serve HTTPS by default); the table gives all four. Prints a table and one
final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.proxy import Counts, running_proxy  # noqa: E402
from tests.support.fleet import Agent, wait_for  # noqa: E402
from tests.support.hub import HubProcess, running_hub  # noqa: E402

API = "/api/v1alpha1"
GOAL_KBIT = 0.25
"""KubeEdge's published idle figure per edge node."""
HEADLINE = ("v2", "tls")


def admin(hub: HubProcess, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(
        method,
        f"{hub.url}{API}{path}",
        json=body,
        headers=hub.headers(),
        verify=hub.verify,
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json() if answer.content else None


def phase(hub: HubProcess, site: str) -> str | None:
    answer = httpx.get(
        f"{hub.url}{API}/sites/{site}", headers=hub.headers(), verify=hub.verify, timeout=30
    )
    return (answer.json().get("status") or {}).get("phase") if answer.status_code == 200 else None


def start_agents(hub: HubProcess, url: str, tmp: Path, protocol: str, count: int) -> list[Agent]:
    agents = []
    for i in range(count):
        agent = Agent(f"idle-{i}", tmp / "sites" / f"idle-{i}", url, ["--hub-protocol", protocol])
        token = admin(hub, "POST", "/jointokens", {"labels": {}, "ttlSeconds": 600})["token"]
        agent.start(join=token)
        agents.append(agent)
    return agents


def measure(protocol: str, transport: str, args: Any) -> dict[str, Any]:
    """One hub, its agents through the proxy, the bytes of one idle window."""
    with (
        tempfile.TemporaryDirectory(prefix=f"ep-idle-{protocol}-{transport}-") as tmp,
        running_hub(Path(tmp) / "hub", tls=transport == "tls") as hub,
        running_proxy("127.0.0.1", int(hub.url.rsplit(":", 1)[1])) as proxy,
    ):
        scheme = "https" if transport == "tls" else "http"
        agents = start_agents(
            hub, f"{scheme}://127.0.0.1:{proxy.port}", Path(tmp), protocol, args.agents
        )
        try:
            for agent in agents:
                wait_for(
                    lambda a=agent: exited(a) or phase(hub, a.name) == "Online",
                    f"{agent.name} Online",
                    120,
                )
                if exited(agent):
                    raise RuntimeError(
                        f"agent {agent.name} exited:\n{agent.log.read_text()[-2000:]}"
                    )
            time.sleep(args.settle_seconds)  # first status reports, bookmarks, stream set-up
            before, started = proxy.counts(), time.monotonic()
            time.sleep(args.window)
            counted, seconds = proxy.counts() - before, time.monotonic() - started
        finally:
            for agent in agents:
                agent.stop()
    return result(protocol, transport, counted, seconds, args.agents)


def exited(agent: Agent) -> bool:
    return agent.process is not None and agent.process.poll() is not None


def result(
    protocol: str, transport: str, counted: Counts, seconds: float, agents: int
) -> dict[str, Any]:
    per_site = seconds * agents
    return {
        "protocol": protocol,
        "transport": transport,
        "agents": agents,
        "seconds": round(seconds, 1),
        "up_bytes_per_s": round(counted.up / per_site, 2),
        "down_bytes_per_s": round(counted.down / per_site, 2),
        "kbit_per_s": round(counted.total * 8 / 1000 / per_site, 4),
        "new_connections": counted.connections,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("bytes per idle site per second through a counting proxy (both directions)")
    print(
        f"{'protocol':<9} {'transport':<10} {'agents':>6} {'seconds':>8} {'up B/s':>8} "
        f"{'down B/s':>9} {'kbit/s':>8} {'new conns':>9}"
    )
    for r in rows:
        print(
            f"{r['protocol']:<9} {r['transport']:<10} {r['agents']:>6} {r['seconds']:>8} "
            f"{r['up_bytes_per_s']:>8} {r['down_bytes_per_s']:>9} {r['kbit_per_s']:>8} "
            f"{r['new_connections']:>9}"
        )
    print(
        f"(goal <= {GOAL_KBIT} kbit/s per site, KubeEdge's published figure; headline: v2 over TLS)"
    )


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_key = {f"{r['protocol']}/{r['transport']}": r for r in rows}
    head = by_key.get("/".join(HEADLINE)) or (rows[-1] if rows else {})
    return {
        "kbit_per_s": head.get("kbit_per_s"),
        "headline": f"{head.get('protocol')}/{head.get('transport')}",
        "goal_kbit_per_s": GOAL_KBIT,
        "runs": {k: v["kbit_per_s"] for k, v in by_key.items()},
        "rows": rows,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=4, choices=range(1, 11))
    p.add_argument("--window", type=float, default=120.0, help="Seconds counted.")
    p.add_argument("--settle-seconds", type=float, default=30.0)
    p.add_argument("--protocols", default="v1,v2", help="v1,v2")
    p.add_argument("--transports", default="plain,tls", help="plain,tls")
    return p


def main() -> None:
    args = parser().parse_args()
    protocols, transports = args.protocols.split(","), args.transports.split(",")
    if set(protocols) - {"v1", "v2"} or set(transports) - {"plain", "tls"}:
        parser().error("give --protocols from v1,v2 and --transports from plain,tls")
    rows = []
    for transport in transports:
        for protocol in protocols:
            rows.append(measure(protocol, transport, args))
            print(f"  {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    print_table(rows)
    print(json.dumps(summary(rows)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
