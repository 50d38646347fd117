"""The hub's resource limits in one place: their defaults, their flags, their meaning.

Every limit bounds what one peer or one principal can make the hub hold (sockets,
watches, buffered events, stored bytes) or do (requests per second). The defaults
leave real agents and the CLI far below them (an agent keeps one watch and one relay
long poll and sends a heartbeat every few seconds) and give admins a high rate, since
tooling and tests create many objects quickly. ``docs/security.md`` lists them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0
    """Seconds for a request line and headers to arrive whole (slowloris)."""
    body_timeout: float = 30.0
    """Seconds a request body may stall before the connection is closed."""
    max_head_bytes: int = 64 * 1024
    """Bytes of request line and headers; more is answered 431."""
    connections_per_peer: int = 256
    """Open connections from one peer address; more are closed at once."""
    max_connections: int = 10_000
    """Open connections in all (and never more than the descriptor limit allows)."""
    admin_rate: float = 1000.0
    """Requests per second an admin token may make, on average."""
    admin_burst: int = 2000
    site_rate: float = 20.0
    """Requests per second one site's credential may make, on average."""
    site_burst: int = 200
    anonymous_rate: float = 10.0
    """Requests per second without a token (join, probes), per peer address."""
    anonymous_burst: int = 50
    auth_failure_rate: float = 5.0
    """Requests with a refused token per second, per peer address, before 429."""
    auth_failure_burst: int = 50
    data_rate: float = 100.0
    """Record batches per second one site may send (``POST /sites/{site}/data``), in a
    bucket of their own: a site sends as fast as its uplink budget lets it, which takes
    dozens of batches a second at a few Mbit/s, and must not starve its other calls."""
    data_burst: int = 400
    device_report_rate: float = 0.5
    """Device reports per second one site may send (``POST /sites/{site}/devices``, its
    whole discovered inventory, up to 1,000 devices, each a few store writes when it
    changed); an agent reports at most every 2 s."""
    device_report_burst: int = 5
    status_rate: float = 5.0
    """Status writes per second one site may make, on average."""
    status_burst: int = 60
    admin_watches: int = 256
    """Watch streams an admin token may hold open at once."""
    site_watches: int = 8
    """Watch streams one site may hold open at once."""
    watch_buffer_bytes: int = 16 * MIB
    """Bytes of events buffered for one watch that is not reading; then it is ended."""
    event_retention_bytes: int = 256 * MIB
    """Bytes of the event log kept; older events are compacted away (as by count)."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--<limit>`` flag per field of ``Limits``, defaulting to its value."""
    group = parser.add_argument_group("limits (see docs/security.md)")
    for spec in fields(Limits):
        default: Any = spec.default
        group.add_argument(flag(spec.name), type=_positive(type(default)), default=default)


def from_arguments(args: argparse.Namespace) -> Limits:
    return Limits(**{spec.name: getattr(args, spec.name) for spec in fields(Limits)})


def _positive(kind: type[Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse
