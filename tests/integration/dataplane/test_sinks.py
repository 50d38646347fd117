"""The data sinks against real brokers: nats-server (JetStream) and mosquitto.

What is checked: every record arrives with its fields (read back by a JetStream
consumer, or by an MQTT subscriber), JetStream drops a batch stored twice, a sink
whose broker is down raises ``SinkError`` and works again once the broker is back on
the same port (same sink object), unsafe subject and topic tokens are refused, and
an MQTT PUBACK that refuses counts as a failure. No test measures time: a stopped
broker is noticed through the sink's own short timeout at the latest.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace

import aiomqtt
import nats as nats_py
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType

from edgeplane.dataplane.sinks import Sink, SinkError, SinkRecord
from edgeplane.dataplane.sinks.mqtt import MqttSink
from edgeplane.dataplane.sinks.nats import NatsSink, headers
from tests.support.brokers import Broker
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.timeout(120)

SITES = ("site-a", "site-b", "site-c")
STREAMS = ("metrics", "events")
PREFIX, STREAM = "edgeplane.data", "EDGEPLANE_DATA"
SHORT = 2.0
"""The timeout of a sink whose broker a test stops."""


def make_records(count: int, first_seq: int = 1) -> list[SinkRecord]:
    """``count`` records, spread over three sites and two streams; seq unique per site."""
    return [
        SinkRecord(
            site=SITES[i % len(SITES)],
            stream=STREAMS[i % len(STREAMS)],
            seq=first_seq + i // len(SITES),
            at=1_700_000_000.0 + i / 8,
            priority=i % 3,
            body=f"record {i} ".encode() * (1 + i % 5),
            epoch="0123456789abcdef",
        )
        for i in range(count)
    ]


def batches(records: Sequence[SinkRecord], size: int) -> Iterator[Sequence[SinkRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def with_token(record: SinkRecord, field: str, value: str) -> SinkRecord:
    return replace(record, site=value) if field == "site" else replace(record, stream=value)


def identity(record: SinkRecord) -> tuple[str, int]:
    return record.site, record.seq


async def stored(sink: Sink, records: Sequence[SinkRecord]) -> bool:
    await sink.store(records)
    return True


# NATS JetStream


@pytest.fixture
async def jetstream(nats: Broker) -> AsyncIterator[JetStreamContext]:
    """A reader's own connection to the test's nats-server."""
    client = await nats_py.connect(nats.url, max_reconnect_attempts=60, reconnect_time_wait=1)
    yield client.jetstream()
    await client.close()


@pytest.fixture
async def nats_sink(nats: Broker) -> AsyncIterator[NatsSink]:
    sink = NatsSink(nats.url, subject_prefix=PREFIX, stream_name=STREAM, timeout=SHORT)
    await sink.start()
    yield sink
    await sink.close()


async def read_back(js: JetStreamContext, count: int) -> dict[tuple[str, int], Msg]:
    """Every message of the stream, by (site, seq), read by a pull consumer."""
    consumer = await js.pull_subscribe(f"{PREFIX}.>", durable="read-back", stream=STREAM)
    seen: dict[tuple[str, int], Msg] = {}

    async def all_read() -> int:
        for msg in await consumer.fetch(batch=256, timeout=1):
            await msg.ack()
            seen[header(msg, "Edgeplane-Site"), int(header(msg, "Edgeplane-Seq"))] = msg
        return len(seen)

    await wait_until_async(
        all_read,
        f"{count} messages read back",
        accept=lambda n: n >= count,
        ignore=(nats_py.errors.TimeoutError,),
    )
    await consumer.unsubscribe()
    return seen


def header(msg: Msg, name: str) -> str:
    assert msg.headers is not None
    return msg.headers[name]


async def stream_messages(js: JetStreamContext) -> int:
    return (await js.stream_info(STREAM)).state.messages


async def test_nats_stores_each_record_once_with_its_headers(
    nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    records = make_records(1000)
    for batch in batches(records, 100):
        await nats_sink.store(batch)

    seen = await read_back(jetstream, len(records))
    assert len(seen) == len(records)
    for record in records:
        msg = seen[identity(record)]
        assert msg.subject == f"{PREFIX}.{record.site}.{record.stream}"
        assert msg.data == record.body
        assert msg.headers == {**headers(record), "Nats-Expected-Stream": STREAM}
    assert float(header(seen[identity(records[5])], "Edgeplane-At")) == records[5].at

    await nats_sink.store(records)  # all of it again, as after a lost answer
    assert await stream_messages(jetstream) == len(records)


async def test_nats_sink_makes_a_file_stream_with_a_duplicate_window(
    nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    config = (await jetstream.stream_info(STREAM)).config
    assert config.subjects == [f"{PREFIX}.>"]
    assert config.storage == StorageType.FILE
    assert config.duplicate_window == 120.0


async def test_nats_sinks_of_two_prefixes_share_one_stream(
    nats: Broker, nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    other = NatsSink(nats.url, subject_prefix="edgeplane.other", stream_name=STREAM)
    try:
        await other.store(make_records(5))
    finally:
        await other.close()
    await nats_sink.store(make_records(5, first_seq=100))

    config = (await jetstream.stream_info(STREAM)).config
    assert config.subjects == [f"{PREFIX}.>", "edgeplane.other.>"]
    assert await stream_messages(jetstream) == 10


async def test_nats_store_fails_while_the_server_is_down_and_recovers(
    nats: Broker, nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    before, during = make_records(30), make_records(30, first_seq=11)
    await nats_sink.store(before)
    await asyncio.to_thread(nats.stop)

    with pytest.raises(SinkError, match=r"sink 'nats' \(nats://127\.0\.0\.1:\d+"):
        await nats_sink.store(during)

    await asyncio.to_thread(nats.start)
    await wait_until_async(
        lambda: stored(nats_sink, during), "the sink storing again", ignore=(SinkError,)
    )
    messages = await wait_until_async(
        lambda: stream_messages(jetstream),
        "the reader reconnected",
        ignore=(nats_py.errors.Error,),
    )
    assert messages == len({identity(r) for r in [*before, *during]})


async def test_nats_sink_connects_afresh_once_its_client_gave_up(
    nats: Broker, nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    records = make_records(30)
    await asyncio.to_thread(nats.stop)

    async def failure() -> str:
        with pytest.raises(SinkError) as failed:
            await nats_sink.store(records)
        return str(failed.value)

    # While nats-py reconnects, store fails at once; after its last attempt it fails
    # trying a connection of its own.
    await wait_until_async(failure, "the client to give up", accept=lambda m: "reconnect" not in m)
    await asyncio.to_thread(nats.start)
    await wait_until_async(
        lambda: stored(nats_sink, records), "the sink storing again", ignore=(SinkError,)
    )
    assert await wait_until_async(
        lambda: stream_messages(jetstream), "the reader reconnected", ignore=(nats_py.errors.Error,)
    ) == len(records)


# MQTT


@pytest.fixture
async def mqtt_sink(mosquitto: Broker) -> AsyncIterator[MqttSink]:
    sink = MqttSink(mosquitto.host, mosquitto.port, timeout=SHORT)
    await sink.start()
    yield sink
    await sink.close()


async def test_mqtt_subscriber_gets_every_record_with_its_properties(
    mosquitto: Broker, mqtt_sink: MqttSink
) -> None:
    records = make_records(600)
    got: list[aiomqtt.Message] = []
    subscriber = aiomqtt.Client(mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5)

    async def collect() -> None:
        async for message in subscriber.messages:
            got.append(message)

    async with subscriber:
        await subscriber.subscribe("edgeplane/data/#", qos=1)
        collector = asyncio.create_task(collect())
        for batch in batches(records, 200):
            await mqtt_sink.store(batch)
        await wait_until_async(
            lambda: len(got), f"{len(records)} messages", accept=lambda n: n >= len(records)
        )
        collector.cancel()

    by_identity = {_identity(m): m for m in got}
    assert len(got) == len(by_identity) == len(records)
    for record in records:
        message = by_identity[identity(record)]
        assert str(message.topic) == f"edgeplane/data/{record.site}/{record.stream}"
        assert message.payload == record.body
        assert message.qos == 1
        assert _user_properties(message) == {
            "site": record.site,
            "stream": record.stream,
            "seq": str(record.seq),
            "at": repr(record.at),
            "priority": str(record.priority),
            "epoch": record.epoch,
        }


def _user_properties(message: aiomqtt.Message) -> dict[str, str]:
    assert message.properties is not None
    # paho's Properties sets its attributes dynamically: mypy cannot see them.
    return dict(getattr(message.properties, "UserProperty", []))


def _identity(message: aiomqtt.Message) -> tuple[str, int]:
    props = _user_properties(message)
    return props["site"], int(props["seq"])


async def test_mqtt_store_fails_while_the_broker_is_down_and_recovers(
    mosquitto: Broker, mqtt_sink: MqttSink
) -> None:
    await mqtt_sink.store(make_records(30))
    await asyncio.to_thread(mosquitto.stop)

    with pytest.raises(SinkError, match=r"sink 'mqtt' \(mqtt://127\.0\.0\.1:\d+\)"):
        await mqtt_sink.store(make_records(30, first_seq=11))

    await asyncio.to_thread(mosquitto.start)
    records = make_records(30, first_seq=11)
    await wait_until_async(
        lambda: stored(mqtt_sink, records), "the sink storing again", ignore=(SinkError,)
    )


async def test_mqtt_puback_that_refuses_fails_the_batch(guarded_mosquitto: Broker) -> None:
    broker = guarded_mosquitto
    allowed = MqttSink(broker.host, broker.port, timeout=SHORT)
    denied = MqttSink(broker.host, broker.port, topic_prefix="elsewhere/data", timeout=SHORT)
    try:
        await allowed.store(make_records(10))
        with pytest.raises(SinkError, match=r"refused 10 of 10 record\(s\).*0x87"):
            await denied.store(make_records(10))
    finally:
        await allowed.close()
        await denied.close()


# Unsafe tokens

NATS_UNSAFE = [("stream", "x*"), ("stream", ">"), ("site", "a b"), ("site", "")]
MQTT_UNSAFE = [("site", "a/b"), ("stream", "x+"), ("stream", "#"), ("site", "")]


@pytest.mark.parametrize(("field", "value"), NATS_UNSAFE, ids=[repr(v) for _, v in NATS_UNSAFE])
async def test_nats_refuses_an_unsafe_subject_token(
    nats_sink: NatsSink, jetstream: JetStreamContext, field: str, value: str
) -> None:
    good, bad = make_records(2)
    with pytest.raises(
        SinkError, match=re.escape(f"has {field} {value!r}, which is no safe subject")
    ):
        await nats_sink.store([good, with_token(bad, field, value)])
    assert await stream_messages(jetstream) == 0  # nothing of the batch went out
    await nats_sink.store([good])
    assert await stream_messages(jetstream) == 1


async def test_nats_names_with_dots_are_subject_tokens_with_underscores(
    nats_sink: NatsSink, jetstream: JetStreamContext
) -> None:
    (record,) = make_records(1)
    dotted = with_token(with_token(record, "site", "store.eu-1"), "stream", "temps.v2")
    assert nats_sink.subject(dotted).endswith(".store_eu-1.temps_v2")
    await nats_sink.store([dotted])
    assert await stream_messages(jetstream) == 1


@pytest.mark.parametrize(("field", "value"), MQTT_UNSAFE, ids=[repr(v) for _, v in MQTT_UNSAFE])
async def test_mqtt_refuses_an_unsafe_topic_level(
    mqtt_sink: MqttSink, field: str, value: str
) -> None:
    good, bad = make_records(2)
    with pytest.raises(
        SinkError, match=re.escape(f"has {field} {value!r}, which is no safe topic")
    ):
        await mqtt_sink.store([good, with_token(bad, field, value)])
    await mqtt_sink.store([good])


@pytest.mark.parametrize("prefix", ["edgeplane.*", "edgeplane..data", "edge plane", ""])
def test_nats_refuses_an_unsafe_subject_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="subject_prefix"):
        NatsSink("nats://127.0.0.1:4222", subject_prefix=prefix)


@pytest.mark.parametrize("prefix", ["edgeplane/#", "edgeplane//data", "edgeplane/+/x", ""])
def test_mqtt_refuses_an_unsafe_topic_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic_prefix"):
        MqttSink("127.0.0.1", 1883, topic_prefix=prefix)
