"""``DataStream`` validation: what the API accepts, and what it refuses naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.datastreams import PRIORITY_CLASSES, DataStream, priority_of
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed, good


def test_a_complete_stream_round_trips() -> None:
    body = good("DataStream")
    stream = validate_object(body)
    assert isinstance(stream, DataStream)
    assert to_wire(stream)["spec"] == body["spec"]


def test_an_empty_spec_is_a_normal_stream_to_the_hub() -> None:
    stream = validate_object({**good("DataStream"), "spec": {}})
    assert isinstance(stream, DataStream)
    assert stream.spec.priority == "normal" and stream.spec.sink is None


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("spec.priority", "urgent", "spec.priority"),
        ("spec.priority", 1001, "out of range"),
        ("spec.priority", True, "spec.priority"),
        ("spec.retention.maxAgeSeconds", 0, "spec.retention.maxAgeSeconds"),
        ("spec.retention.maxBytes", 10, "spec.retention.maxBytes"),
        ("spec.aggregation.windowSeconds", 0, "spec.aggregation.windowSeconds"),
        ("spec.aggregation.functions", ["mean", "mean"], "once"),
        ("spec.aggregation.functions", ["median"], "spec.aggregation.functions"),
        ("spec.aggregation.field", "a b", "spec.aggregation.field"),
        ("spec.aggregation.threshold", {}, "above, below or both"),
        ("spec.aggregation.raw", "never", "only with raw: threshold"),
        ("spec.sink.type", "kafka", "spec.sink.type"),
        ("spec.sink.topic", "x/y", "topic is for type: mqtt"),
        ("spec.sink", {"type": "nats", "subject": "a.>"}, "spec.sink.subject"),
        ("spec.extra", 1, "spec.extra"),
        ("spec.mqtt.topic", "a/#/b", "spec.mqtt.topic"),
        ("spec.mqtt.topic", "a b", "spec.mqtt.topic"),
        ("spec.mqtt.topic", "a/+x", "spec.mqtt.topic"),
    ],
    ids=[
        "unknown-class",
        "priority-too-high",
        "priority-bool",
        "age-zero",
        "bytes-tiny",
        "window-zero",
        "function-twice",
        "function-unknown",
        "field-space",
        "threshold-empty",
        "threshold-without-raw",
        "sink-unknown",
        "topic-for-hub",
        "subject-wildcard",
        "unknown-field",
        "hash-not-last",
        "topic-space",
        "plus-inside-a-level",
    ],
)
def test_bad_fields_are_refused_by_name(path: str, value: Any, words: str) -> None:
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("DataStream"), path, value))
    assert words in str(refused.value)


def test_raw_threshold_needs_a_threshold() -> None:
    body = good("DataStream")
    del body["spec"]["aggregation"]["threshold"]
    with pytest.raises(InvalidObject, match="raw: threshold needs a threshold"):
        validate_object(body)


@pytest.mark.parametrize(
    ("wire", "number"),
    [("critical", 1000), ("bulk", 250), (None, 500), (7, 7), (5000, 1000), (True, 500)],
    ids=["critical", "bulk", "absent", "number", "clamped", "bool"],
)
def test_priority_numbers(wire: object, number: int) -> None:
    assert priority_of(wire) == number
    assert PRIORITY_CLASSES["critical"] > PRIORITY_CLASSES["high"] > PRIORITY_CLASSES["bulk"]


@pytest.mark.parametrize("topic", ["sensors/+/temp", "#", "plant/line-3/#", "a", "+/+"])
def test_mqtt_topic_filters(topic: str) -> None:
    stream = validate_object(changed(good("DataStream"), "spec.mqtt", {"topic": topic}))
    assert isinstance(stream, DataStream) and stream.spec.mqtt is not None
    assert stream.spec.mqtt.topic == topic
