"""What a simulated fleet is asked to be: ``SimOptions`` and the ``edgeplane sim`` flags.

Every flag is checked whole here, before anything is sent: a bad one is a usage error
naming the flag and what to give instead. Neighbours: ``sim.command`` (parses argv with
``parser()``), ``sim.fleet`` (runs a fleet of these options).
"""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.labels import check_dns1123_label, parse_label_pairs
from edgeplane.api.quantity import Quantity, QuantityError, cpu_millis, memory_bytes

MAX_SITES = 100_000
MAX_SOURCE_ADDRESSES = 65_536
SITE_DIGITS = 5
PROTOCOLS = ("auto", "v1", "v2")


@dataclass(frozen=True)
class SimOptions:
    hub: str
    token: str
    """The admin token: it makes one join token per site."""
    sites: int = 0
    ca_file: str | None = None
    prefix: str = "sim"
    heartbeat_seconds: float = 10.0
    report_seconds: float = 5.0
    start_delay: tuple[float, float] = (0.5, 2.0)
    crash_rate: float = 0.0
    """Crashes per running workload per minute (a Poisson process)."""
    cpu: str = "4"
    memory: str = "8Gi"
    labels: dict[str, str] = field(default_factory=dict)
    source_addresses: int = 64
    join_concurrency: int = 64
    hub_protocol: str = "auto"
    """auto: the stream and heartbeat endpoints when the hub has them (v2), else v1."""
    locations: bool = False
    """After each site joins, set its ``spec.location`` and ``region`` label from its
    index (``sim.places``), with the admin token."""

    @property
    def cpu_millis(self) -> int:
        return cpu_millis(Quantity.parse(self.cpu))

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(Quantity.parse(self.memory))

    def site_name(self, index: int) -> str:
        return f"{self.prefix}-{index:0{SITE_DIGITS}d}"

    def source_address(self, index: int) -> str:
        """Site ``index``'s local address: 127.0.0.1, 127.0.0.2, ... round robin."""
        base = int(ipaddress.IPv4Address("127.0.0.1"))
        return str(ipaddress.IPv4Address(base + index % self.source_addresses))


def _bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
            raise argparse.ArgumentTypeError(f"{text!r}: give {low:g} to {high:g}")
        return value

    parse.__name__ = kind.__name__
    return parse


def start_delay(text: str) -> tuple[float, float]:
    """``MIN:MAX`` seconds (or one number for both), 0 <= MIN <= MAX <= 3600."""
    low_text, _, high_text = text.partition(":")
    try:
        low, high = float(low_text), float(high_text or low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give MIN:MAX seconds, e.g. 0.5:2.0") from None
    if not 0 <= low <= high <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 <= MIN <= MAX <= 3600, e.g. 0.5:2.0")
    return low, high


def quantity(kind: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            value = Quantity.parse(text)
        except QuantityError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if value.value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: the {kind} must be above 0")
        return text

    parse.__name__ = "quantity"
    return parse


def prefix(text: str) -> str:
    problem = check_dns1123_label(f"{text}-{'0' * SITE_DIGITS}")
    if problem:
        raise argparse.ArgumentTypeError(
            f"{text!r}: site names <prefix>-NNNNN {problem}; give e.g. 'sim'"
        )
    return text


def labels(text: str) -> dict[str, str]:
    try:
        found = parse_label_pairs(text, "--labels")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if reserved := [k for k in found if k.startswith("edgeplane.io/")]:
        raise argparse.ArgumentTypeError(f"{reserved[0]!r}: keys under edgeplane.io/ are the hub's")
    return found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgeplane sim", description="Run many virtual sites against a real hub."
    )
    p.add_argument("--hub", required=True, help="The hub's URL, http(s)://HOST:PORT.")
    p.add_argument("--token-file", required=True, help="A file holding an admin token.")
    p.add_argument("--ca-file", help="The hub's CA certificate (PEM), for an https hub.")
    p.add_argument("--sites", type=_bounded(int, 0, MAX_SITES), required=True)
    p.add_argument("--prefix", type=prefix, default="sim", help="Site names: PREFIX-NNNNN.")
    p.add_argument("--heartbeat-seconds", type=_bounded(float, 0.5, 3600), default=10.0)
    p.add_argument("--report-seconds", type=_bounded(float, 0.2, 3600), default=5.0)
    p.add_argument("--start-delay", type=start_delay, default=(0.5, 2.0), help="MIN:MAX s.")
    p.add_argument("--crash-rate", type=_bounded(float, 0, 60), default=0.0, help="Per minute.")
    p.add_argument("--cpu", type=quantity("cpu"), default="4", help="Each site's CPU.")
    p.add_argument("--memory", type=quantity("memory"), default="8Gi", help="Each site's memory.")
    p.add_argument("--labels", type=labels, default={}, help="k=v,...: every site's labels.")
    p.add_argument("--source-addresses", type=_bounded(int, 1, MAX_SOURCE_ADDRESSES), default=64)
    p.add_argument("--join-concurrency", type=_bounded(int, 1, 1024), default=64)
    p.add_argument("--hub-protocol", choices=PROTOCOLS, default="auto")
    p.add_argument(
        "--locations",
        action="store_true",
        help="After each site joins, set its spec.location and region label (40 cities).",
    )
    return p


def from_arguments(args: argparse.Namespace, token: str) -> SimOptions:
    return SimOptions(
        hub=args.hub,
        token=token,
        sites=args.sites,
        ca_file=args.ca_file,
        prefix=args.prefix,
        heartbeat_seconds=args.heartbeat_seconds,
        report_seconds=args.report_seconds,
        start_delay=args.start_delay,
        crash_rate=args.crash_rate,
        cpu=args.cpu,
        memory=args.memory,
        labels=args.labels,
        source_addresses=args.source_addresses,
        join_concurrency=args.join_concurrency,
        hub_protocol=args.hub_protocol,
        locations=args.locations,
    )
