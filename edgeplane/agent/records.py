"""What a publish carries: its records from the request body (JSON lines, or one record
of bytes), and the bounds a record must keep to be taken at all. Neighbours:
``agent.data`` (spools them), ``agent.publishing`` (the requests)."""

from __future__ import annotations

import json

from edgeplane.agent.publishing import Answer, Publish, refusal
from edgeplane.agent.streamterms import StreamTerms

MAX_RECORDS_PER_PUBLISH = 10_000
MAX_RECORD_BYTES = 512 * 1024
"""One record at most: alone in a batch it must still pass the hub's --max-body-bytes
(1 MiB by default), or the uplink would send it again forever."""
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class BadRecord(ValueError):
    """A record an aggregated stream cannot take (not a JSON object): what is wrong."""


def too_big(bodies: list[bytes], stream: StreamTerms) -> str | None:
    """Why one of ``bodies`` can never be taken, or None: past ``MAX_RECORD_BYTES`` (a
    batch of it must fit the hub's body limit), or past the stream's own maxBytes."""
    largest = max((len(b) for b in bodies), default=0)
    if largest > MAX_RECORD_BYTES:
        return f"a record is at most {MAX_RECORD_BYTES} bytes ({largest} given): split it"
    if stream.max_bytes is not None and largest > stream.max_bytes:
        return f"a record of {largest} bytes is over {stream.name}'s retention.maxBytes"
    return None


def bodies_of(publish: Publish) -> list[bytes] | Answer:
    kind = publish.content_type.split(";")[0].strip().lower()
    if kind not in NDJSON:
        return [publish.body]
    lines = [line for line in publish.body.split(b"\n") if line.strip()]
    if len(lines) > MAX_RECORDS_PER_PUBLISH:
        return refusal(413, "TooMany", f"at most {MAX_RECORDS_PER_PUBLISH} records a request")
    for i, line in enumerate(lines):
        try:
            json.loads(line)
        except ValueError:
            return refusal(
                400, "BadRecord", f"line {i + 1} is not JSON: send one JSON value a line"
            )
    return lines
