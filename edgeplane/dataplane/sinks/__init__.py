"""Sinks: where the hub hands the records that edge sites send home.

A sink stores batches of ``SinkRecord``. ``store`` returns only once the broker has
acknowledged every record of the batch, and raises ``SinkError`` otherwise; a batch
that raised counts as not stored at all, so the caller sends the whole batch again.
That makes delivery at-least-once on the wire, and each sink makes the duplicates it
can cause harmless as far as its broker allows:

* ``nats.NatsSink`` (NATS JetStream) sets ``Nats-Msg-Id: <site>:<epoch>:<seq>``, and the
  stream drops a second message with the same id within its duplicate window.
* ``mqtt.MqttSink`` (MQTT v5) cannot: MQTT brokers do not deduplicate across
  publishes. Every message carries user properties ``site``, ``stream``, ``seq``,
  ``at``, ``priority`` and ``epoch``; consumers dedupe on (``site``, ``epoch``, ``seq``).

This package holds the contract only, on the standard library: the sink modules
import their client libraries (nats-py, aiomqtt), so the hub loads one on demand and
the agent, which never stores to a sink, never pays for them. Neighbours: ``spool``
and ``uplink`` (the site side that produces the records), ``wire`` (their encoding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One record as a sink stores it."""

    site: str
    stream: str
    seq: int
    """Per-site sequence number, unique per site: with ``site``, the record's identity."""
    at: float
    """When the record was published at the site (unix seconds)."""
    priority: int
    body: bytes
    epoch: str = ""
    """The site's spool epoch (``dataplane.spool``): a spool made anew (its disk lost)
    numbers from 1 again, so (site, epoch, seq) names a record for good."""


class SinkError(Exception):
    """The sink could not store the batch (down, refused, timed out); nothing in the
    batch counts as stored."""


class Sink(Protocol):
    """A destination for records: started once, then fed batches, then closed."""

    name: str

    async def start(self) -> None:
        """Connect and prepare the destination; raises ``SinkError``."""
        ...

    async def store(self, records: Sequence[SinkRecord]) -> None:
        """Return once every record is durably stored (acknowledged by the broker);
        raise ``SinkError`` otherwise."""
        ...

    async def close(self) -> None:
        """Release the connection; never raises for a broker that is gone."""
        ...


__all__ = ["Sink", "SinkError", "SinkRecord"]
