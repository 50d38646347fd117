"""What the fleet DNS tests share: sites in two regions, an HTTP workload with a named
port at each, ``edgeplane dns`` beside the hub, and dnspython queries with an EDNS
client subnet (RFC 7871) that places the asker in a region.

Each site's agent says its workloads are reached at an address of its own on loopback
(``--address 127.0.0.1N``), so answers tell the sites apart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.edns
import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from tests.support.fleet import Agent, Fleet, wait_for
from tests.support.ports import free_port

ZONE = "apps.test"
GROUP = "traffic-sites"
MEMBER = {"traffic-test": "yes"}
SITES = {
    "paris": ("eu-west", "127.0.0.11"),
    "lyon": ("eu-west", "127.0.0.12"),
    "nyc": ("us-east", "127.0.0.13"),
}
LOCALITY = {
    "networks": [
        {"cidr": "10.1.0.0/16", "region": "eu-west"},
        {"cidr": "10.1.1.0/24", "site": "paris"},
        {"cidr": "10.2.0.0/16", "region": "us-east"},
    ]
}
SUBNETS = {"eu-west": "10.1.7.0", "paris": "10.1.1.0", "us-east": "10.2.7.0"}
SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def site_group(period: float = 0.5) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": GROUP},
        "spec": {"selector": {"matchLabels": MEMBER}, "health": {"heartbeatSeconds": period}},
    }


def web_app(name: str = "web") -> dict[str, Any]:
    """One HTTP server with a port named ``http`` at every site of the group."""
    process = {
        "command": sys.executable,
        "args": ["-c", SERVER],
        "ports": [{"name": "http"}],
        "healthCheck": {"http": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "terminationGracePeriodSeconds": 1,
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": process},
            "resources": {"cpu": "50m", "memory": "16Mi"},
            "placement": {"mode": "EverySite", "siteGroups": [GROUP]},
        },
    }


def add_site(fleet: Fleet, name: str, *flags: str) -> Agent:
    region, address = SITES[name]
    labels = {**MEMBER, "region": region}
    return fleet.add_agent(name, labels, "--address", address, *flags)


def serving(fleet: Fleet, app: str, sites: set[str]) -> dict[str, Any]:
    """The assignments once every one of ``sites`` runs ``app`` with its endpoint."""

    def look() -> dict[str, Any] | None:
        found = fleet.running(app, sites)
        if found and all((a["status"].get("endpoints") or []) for a in found.values()):
            return found
        return None

    return wait_for(look, f"{app} serving at {sorted(sites)}", 90)


def query(
    port: int, name: str, rdtype: str = "A", subnet: str | None = None, tcp: bool = False
) -> dns.message.Message:
    options: list[dns.edns.Option] = [dns.edns.ECSOption(subnet, 24)] if subnet else []
    message = dns.message.make_query(name, rdtype, use_edns=0, options=options)
    ask = dns.query.tcp if tcp else dns.query.udp
    return ask(message, "127.0.0.1", port=port, timeout=3)


def answered(port: int, name: str, rdtype: str = "A", **how: Any) -> dns.message.Message | None:
    """The answer, or None while the server is not answering yet (or lost the query)."""
    try:
        return query(port, name, rdtype, **how)
    except dns.exception.DNSException:
        return None


def addresses(answer: dns.message.Message) -> set[str]:
    return {
        rd.address for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset
    }


def srv(answer: dns.message.Message) -> dict[str, int]:
    """SRV target's site -> priority."""
    return {
        str(rd.target).split(".")[0]: rd.priority
        for rrset in answer.answer
        if rrset.rdtype == dns.rdatatype.SRV
        for rd in rrset
    }


def edgeplane() -> list[str]:
    return [str(Path(sys.executable).with_name("edgeplane"))]


@contextmanager
def fleet_dns(fleet: Fleet, root: Path, ttl: int = 5) -> Iterator[int]:
    """``edgeplane dns`` beside the fleet's hub, on a free port; yields the port."""
    locality = root / "locality.json"
    locality.write_text(json.dumps(LOCALITY))
    port = free_port()
    argv = [*edgeplane(), "--server", fleet.url, "--token", fleet.token, "dns"]
    argv += ["--zone", ZONE, "--listen", f"127.0.0.1:{port}", "--locality", str(locality)]
    argv += ["--ttl", str(ttl)]
    log = open(root / "dns.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
    try:
        wait_for(lambda: answered(port, f"{ZONE}.", "SOA"), "edgeplane dns answering", 30)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
