"""``DataStream``: a flow of records from workloads at edge sites to a sink at home.

The spec says which applications' workloads may publish to it (``selector`` over
Application labels; empty: any), how urgent its records are (``priority``: a class or a
number, higher first on a site's uplink), how long a site keeps them while they cannot
be sent (``retention``: what is dropped first when the spool is full is always the
lowest priority), whether the site sums them up before sending (``aggregation``) and
where they go (``sink``). The agent's spool, uplink and aggregation (``dataplane``) read
these fields from the wire; the hub's ingest (``hub.data``) stores what arrives.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from edgeplane.api.meta import (
    Count,
    Generation,
    Message,
    Model,
    Number,
    ObjectName,
    Resource,
    ShortText,
)
from edgeplane.api.selectors import LabelSelector

PRIORITY_CLASSES = {"critical": 1000, "high": 750, "normal": 500, "bulk": 250}
"""Priority classes and the numbers they stand for (a number may be given instead)."""
PRIORITY_MAX = 1000
DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600
MAX_AGE_SECONDS_MAX = 366 * 24 * 3600
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
MAX_BYTES_MAX = 1 << 40
MIN_BYTES = 64 * 1024
WINDOW_SECONDS_MAX = 86_400
FUNCTIONS_MAX = 10
TOPIC_MAX_CHARS = 200


class AggregateFunction(enum.StrEnum):
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    MEAN = "mean"
    LAST = "last"
    P50 = "p50"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"


class RawRecords(enum.StrEnum):
    NEVER = "never"
    THRESHOLD = "threshold"


class Threshold(Model):
    above: Number | None = None
    below: Number | None = None

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if self.above is None and self.below is None:
            raise ValueError("threshold needs above, below or both (for example above: 80)")
        return self


FieldPath = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


class Aggregation(Model):
    """Tumbling windows of ``windowSeconds`` per ``keyBy`` value over the numeric
    ``field``; raw records go too when they cross ``threshold`` (``raw: threshold``)."""

    window_seconds: Number = Field(gt=0, le=WINDOW_SECONDS_MAX, alias="windowSeconds")
    field: FieldPath
    key_by: FieldPath | None = Field(default=None, alias="keyBy")
    functions: list[AggregateFunction] | None = Field(
        default=None, min_length=1, max_length=FUNCTIONS_MAX
    )
    raw: RawRecords | None = None
    threshold: Threshold | None = None

    @field_validator("functions")
    @classmethod
    def _once(cls, functions: list[AggregateFunction] | None) -> list[AggregateFunction] | None:
        if functions is not None and len(set(functions)) != len(functions):
            raise ValueError("name each function once")
        return functions

    @model_validator(mode="after")
    def _threshold_when_raw(self) -> Aggregation:
        wants = self.raw == RawRecords.THRESHOLD
        if wants and self.threshold is None:
            raise ValueError("raw: threshold needs a threshold (for example above: 80)")
        if not wants and self.threshold is not None:
            raise ValueError("a threshold works only with raw: threshold: add it or drop threshold")
        return self


class Retention(Model):
    """How much a site keeps of this stream while it cannot send: records older than
    ``maxAgeSeconds`` are dropped (counted as ``expired``), and past ``maxBytes`` new
    records are refused unless older ones of a lower priority make room."""

    max_age_seconds: StrictInt | None = Field(
        default=None, ge=1, le=MAX_AGE_SECONDS_MAX, alias="maxAgeSeconds"
    )
    max_bytes: StrictInt | None = Field(
        default=None, ge=MIN_BYTES, le=MAX_BYTES_MAX, alias="maxBytes"
    )


class SinkType(enum.StrEnum):
    HUB = "hub"
    NATS = "nats"
    MQTT = "mqtt"


Topic = Annotated[
    str,
    Field(
        min_length=1, max_length=TOPIC_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$"
    ),
]


class Sink(Model):
    """Where records go: the hub's own store (queryable with ``edgeplane data``), or a
    NATS JetStream subject / an MQTT topic prefix (the hub must be started with
    ``--nats-url`` / ``--mqtt-url``); the site and stream are appended to it."""

    type: SinkType = SinkType.HUB
    subject: Topic | None = None
    topic: Topic | None = None

    @model_validator(mode="after")
    def _addressed(self) -> Sink:
        if self.subject is not None and self.type != SinkType.NATS:
            raise ValueError("subject is for type: nats (for mqtt use topic)")
        if self.topic is not None and self.type != SinkType.MQTT:
            raise ValueError("topic is for type: mqtt (for nats use subject)")
        return self


TopicFilter = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TOPIC_MAX_CHARS,
        pattern=r"^(#|([A-Za-z0-9_.-]+|\+)(/([A-Za-z0-9_.-]+|\+))*(/#)?)$",
    ),
]


class MqttPublishing(Model):
    """Publishing at the site over MQTT: the agent takes the messages of ``topic`` (a
    topic filter: ``+`` for one level, a final ``#`` for the rest) at the site's own
    broker (the agent's ``--mqtt-broker``) as records of this stream."""

    topic: TopicFilter


Priority = StrictInt | Literal["critical", "high", "normal", "bulk"]


class DataStreamSpec(Model):
    selector: LabelSelector | None = None
    priority: Priority = "normal"
    retention: Retention | None = None
    aggregation: Aggregation | None = None
    sink: Sink | None = None
    mqtt: MqttPublishing | None = None
    description: ShortText | None = None

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= PRIORITY_MAX:
            raise ValueError(
                f"priority {value} is out of range: use 0 to {PRIORITY_MAX} "
                "or a class (critical, high, normal, bulk)"
            )
        return value


class DataStream(Resource):
    kind: Literal["DataStream"] = "DataStream"
    spec: DataStreamSpec = Field(default_factory=DataStreamSpec)


DROP_REASONS_MAX = 8
STREAMS_REPORTED_MAX = 256


class StreamTraffic(Model):
    """One stream at one site, as its agent last reported it."""

    name: ObjectName
    backlog_records: Generation = Field(default=0, alias="backlogRecords")
    backlog_bytes: Generation = Field(default=0, alias="backlogBytes")
    oldest_unsent_seconds: Number | None = Field(default=None, ge=0, alias="oldestUnsentSeconds")
    sent_records: Generation = Field(default=0, alias="sentRecords")
    """Records the hub acknowledged since the agent started."""
    rate_records_per_second: Number | None = Field(default=None, ge=0, alias="rateRecordsPerSecond")
    dropped: dict[ShortText, Generation] | None = Field(default=None, max_length=DROP_REASONS_MAX)
    """Records dropped at the site by reason: ``expired`` (past retention.maxAgeSeconds),
    ``evicted`` (to make room for a higher priority)."""


class SiteData(Model):
    """A site's data home as its agent last reported it (``Site.status.data``): each
    stream's backlog and rate, and the uplink's bytes, budget and failures."""

    streams: list[StreamTraffic] = Field(default_factory=list, max_length=STREAMS_REPORTED_MAX)
    sent_bytes: Generation = Field(default=0, alias="sentBytes")
    budget_bytes_per_second: Generation | None = Field(default=None, alias="budgetBytesPerSecond")
    failures: Count = 0
    """Failed sends in a row (0 while the uplink works)."""
    last_error: Message | None = Field(default=None, alias="lastError")
    spool_bytes: Generation = Field(default=0, alias="spoolBytes")
    reported_at: ShortText | None = Field(default=None, alias="reportedAt")


def priority_of(value: object) -> int:
    """The number a wire ``priority`` stands for (``normal`` when absent or unknown)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, min(PRIORITY_MAX, value))
    if isinstance(value, str):
        return PRIORITY_CLASSES.get(value, PRIORITY_CLASSES["normal"])
    return PRIORITY_CLASSES["normal"]
