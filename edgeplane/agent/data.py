"""Data home at the site: workloads publish records, the agent spools them on disk and
sends them home, most urgent first, within the site's uplink budget.

* What the site may publish comes from the hub (``GET /sites/{site}/datastreams``,
  every ``REFRESH_SECONDS``): each stream's priority, retention and the applications
  here that may publish to it, and the site's ``spec.uplink``. The last answer is kept
  on disk, so an agent restarted while the hub is away still takes records.
* Each process workload gets ``EDGEPLANE_DATA_URL`` (the publishing endpoint,
  ``agent.publishing``, on loopback, on the same port across restarts when it is free)
  and ``EDGEPLANE_DATA_TOKEN`` (``agent.datatokens``): the token says which assignment,
  hence which application, publishes, and no workload can make another's.
* ``POST /metrics`` there takes the custom metrics a workload reports for its
  assignment's autoscaler (``agent.metrics``), kept in memory, not spooled.
* A publish is answered 201 only once its records are on disk (``dataplane.spool``);
  429 when there is no room for them, saying why; nothing is dropped silently.
* A stream with ``spec.aggregation`` is summed up here (``agent.summing``): its
  records are held on disk and its summaries sent.
* ``dataplane.uplink`` sends the spool home; records older than their stream's
  ``retention.maxAgeSeconds`` are dropped every ``EXPIRE_SECONDS`` (counted).

Kubernetes workloads do not get the variables: loopback in a pod is the pod's own.
Neighbours: ``agent.agent`` (starts it before the reconciler, which asks ``env_for``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeplane.agent.credentials import write_private
from edgeplane.agent.datatokens import DataTokens
from edgeplane.agent.errors import AgentError
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.metrics import METRICS_PATH, ReportedMetrics
from edgeplane.agent.mqttin import MqttIngress
from edgeplane.agent.publishing import Answer, Publish, PublishServer, refusal
from edgeplane.agent.records import BadRecord, bodies_of, too_big
from edgeplane.agent.state import make_private
from edgeplane.agent.streamterms import DEFAULT_MAX_AGE_SECONDS, StreamTerms, streams_of
from edgeplane.agent.summing import Summaries
from edgeplane.api.wire import Object
from edgeplane.dataplane import wire
from edgeplane.dataplane.spool import DEFAULT_RESERVE_BYTES, Entry, Spool, SpoolFull
from edgeplane.dataplane.uplink import Uplink

log = logging.getLogger("edgeplane.agent.data")
REFRESH_SECONDS = 15.0
REFRESH_MIN_SECONDS = 1.0
EXPIRE_SECONDS = 60.0
REPORT_SECONDS = 30.0
"""How often the figures in ``Site.status.data`` are taken: a status write at most this
often per site while data flows (at 10,000 sites the hub's writes are what count)."""
DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024
PATH_PREFIX = "/v1/streams/"


class DataPlane:
    def __init__(
        self,
        data_dir: Path,
        site: str,
        link: HubLink,
        assignments: Callable[[], Mapping[str, Object]],
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        port: int | None = None,
        report_seconds: float = REPORT_SECONDS,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        mqtt_broker: str | None = None,
        metrics: ReportedMetrics | None = None,
    ) -> None:
        self.dir, self.site, self.link, self._assignments = data_dir, site, link, assignments
        make_private(data_dir / "spool.db")  # 0600 before SQLite makes it, with its WAL
        self.spool = Spool(data_dir / "spool.db", spool_max_bytes, reserve_bytes)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool")
        self.uplink = Uplink(self.spool, self._send, self._blocking)
        self.summaries = Summaries(self.spool, self._blocking, self.uplink.published)
        self.mqtt = (
            MqttIngress(mqtt_broker, f"edgeplane-{site}", self._mqtt_topics, self.take)
            if mqtt_broker
            else None
        )
        self._stale = asyncio.Event()
        """Set when a publish names a stream the agent does not know: refresh now."""
        self._port, self.report_seconds = port, report_seconds
        self.server = PublishServer(self.handle)
        self.tokens = DataTokens(data_dir / "data-secret")
        self.metrics = metrics if metrics is not None else ReportedMetrics()
        """What workloads report on ``POST /metrics``, for ``agent.metering``."""
        self.streams: dict[str, StreamTerms] = streams_of(_read_json(self._streams_file))
        self._apply_budget(_read_json(self._streams_file))
        self.traffic: dict[str, Any] = {}
        """The last figures taken (``report``), for the site's status: ``{}`` until then."""
        self._last_sent: tuple[float, Mapping[str, int]] | None = None

    @property
    def _streams_file(self) -> Path:
        return self.dir / "datastreams.json"

    async def start(self) -> None:
        """Open the publishing endpoint (before any workload starts: they are told it)."""
        remembered = self.dir / "data-port"
        wanted = self._port if self._port is not None else _read_port(remembered)
        self.server.port = wanted or 0
        try:
            await self.server.start()
        except OSError as e:
            if not wanted or self._port is not None:
                raise AgentError(f"cannot listen for publishing on port {wanted}: {e}") from e
            log.warning("publishing port %s is taken (%s): using another", wanted, e)
            self.server.port = 0
            await self.server.start()
        write_private(remembered, str(self.server.port).encode())
        await self._sync_summaries()  # held records of aggregated streams, summed again

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self.uplink.run(stop), name="uplink"),
            asyncio.create_task(self._refresh(stop), name="datastreams"),
            asyncio.create_task(self._expire(stop), name="spool-expiry"),
            asyncio.create_task(self._reports(stop), name="data-report"),
            asyncio.create_task(self.summaries.run(stop), name="data-summaries"),
        ]
        if self.mqtt is not None:
            tasks.append(asyncio.create_task(self.mqtt.run(stop), name="data-mqtt"))
        for task in tasks:
            task.add_done_callback(_said)
        try:
            await stop.wait()
        finally:
            await self.server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._blocking(self.spool.close)
            self._pool.shutdown()

    def env_for(self, obj: Object) -> dict[str, str]:
        """What a process workload of this assignment is told of publishing."""
        if "process" not in ((obj.get("spec") or {}).get("workload") or {}):
            return {}
        return {
            "EDGEPLANE_DATA_URL": self.server.url,
            "EDGEPLANE_DATA_TOKEN": self.tokens.of(obj["metadata"]["name"]),
        }

    async def handle(self, publish: Publish) -> Answer:
        assignments = self._assignments()
        name = self.tokens.holder(publish.token, assignments)
        if name is not None and publish.path == METRICS_PATH:
            return self.metrics.take(name, assignments[name], publish)
        app = str(assignments[name]["spec"].get("application") or "") if name else ""
        if not app:
            return refusal(
                401,
                "Unauthorized",
                "send Authorization: Bearer $EDGEPLANE_DATA_TOKEN (the token your workload "
                "was given)",
            )
        if publish.method == "GET" and publish.path == "/v1/streams":
            mine = sorted(n for n, s in self.streams.items() if app in s.applications)
            return Answer(200, {"streams": mine})
        if publish.method != "POST" or not publish.path.startswith(PATH_PREFIX):
            return refusal(404, "NotFound", "publish with POST /v1/streams/<DataStream name>")
        return await self._publish(app, publish)

    async def _publish(self, app: str, publish: Publish) -> Answer:
        name = publish.path[len(PATH_PREFIX) :]
        stream = self.streams.get(name)
        if stream is None:
            self._stale.set()  # a new workload may know of a stream before the agent does
            return refusal(
                404,
                "UnknownStream",
                f"no DataStream {name!r} reaches this site (yet): create it, or try again "
                "in a few seconds if it was just made",
            )
        if app not in stream.applications:
            return refusal(
                403,
                "NotAllowed",
                f"application {app!r} may not publish to {name!r}: add its labels to the "
                "DataStream's selector",
            )
        bodies = bodies_of(publish)
        if isinstance(bodies, Answer):
            return bodies
        if (why := too_big(bodies, stream)) is not None:
            return refusal(413, "TooLarge", why)
        try:
            seqs = await self._spool(stream, bodies)
        except SpoolFull as e:
            return refusal(429, e.reason, str(e))
        except BadRecord as e:
            return refusal(400, "BadRecord", str(e))
        return Answer(201, {"accepted": len(seqs), "first": seqs[0] if seqs else None})

    async def take(self, name: str, body: bytes) -> bool:
        """Spool one record of ``name`` that came over MQTT: True once it is on disk, or
        dropped for good (counted: it can never be taken), False when there is no room
        for it yet."""
        stream = self.streams.get(name)
        if stream is None:
            self._stale.set()
            return False  # not acknowledged: the subscriptions are made again first
        reason = "too-large" if too_big([body], stream) is not None else None
        try:
            if reason is None:
                await self._spool(stream, [body])
                return True
        except SpoolFull as e:
            log.warning("mqtt record of %s not taken yet: %s", name, e)
            return False
        except BadRecord:
            reason = "bad-record"
        await self._blocking(self.spool.count_drop, name, reason)
        return True

    async def _spool(self, stream: StreamTerms, bodies: list[bytes]) -> list[int]:
        """Spool ``bodies`` as records of ``stream`` (held and summed up when it is
        aggregated); their sequence numbers. SpoolFull, BadRecord."""
        name, now = stream.name, time.time()
        if not self.summaries.aggregated(name):
            entries = [Entry(name, stream.priority, now, b, stream.max_bytes) for b in bodies]
            seqs: list[int] = await self._blocking(self.spool.append, entries)
            self.uplink.published()
            return seqs
        async with self.summaries.lock:
            if not self.summaries.aggregated(name):  # changed while waiting for the lock
                return await self._spool(stream, bodies)
            made = self.summaries.entries(name, bodies, now, stream.max_bytes)
            if isinstance(made, str):
                raise BadRecord(made)
            try:
                seqs = await self._blocking(self.spool.append, made[0])
            except SpoolFull:
                await self.summaries.rebuild(name)  # it counted what was just refused
                raise
        if made[1]:
            await self._blocking(self.spool.count_drop, name, "skipped", made[1])
        self.uplink.published()
        return seqs

    def _mqtt_topics(self) -> dict[str, str]:
        return {n: s.mqtt_topic for n, s in self.streams.items() if s.mqtt_topic}

    async def _send(self, payload: bytes) -> Sequence[int]:
        answer = await self.link.post_bytes(
            f"{API}/sites/{self.site}/data", payload, wire.CONTENT_TYPE
        )
        acked = answer.get("acknowledged") if isinstance(answer, dict) else None
        if not isinstance(acked, list):
            raise AgentError("the hub's answer to a record batch has no acknowledged list")
        return [s for s in acked if isinstance(s, int)]

    async def _refresh(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                answer = await self.link.call("GET", f"{API}/sites/{self.site}/datastreams")
            except AgentError as e:
                log.debug("datastreams not refreshed: %s", e)
            else:
                self.streams = streams_of(answer)
                self._apply_budget(answer)
                await self._sync_summaries()
                await self._blocking(write_private, self._streams_file, json.dumps(answer).encode())
            self._stale.clear()
            await _first(stop, self._stale, REFRESH_SECONDS)
            await _first(stop, asyncio.Event(), REFRESH_MIN_SECONDS)  # at most this often

    async def _sync_summaries(self) -> None:
        wanted = {n: (s.aggregation, s.priority) for n, s in self.streams.items()}
        await self.summaries.sync(wanted)

    def _apply_budget(self, answer: object) -> None:
        uplink = answer.get("uplink") if isinstance(answer, dict) else None
        rate = uplink.get("bandwidthBytesPerSecond") if isinstance(uplink, dict) else None
        burst = uplink.get("burstBytes") if isinstance(uplink, dict) else None
        if not isinstance(rate, int) or rate <= 0:
            self.uplink.budget(None)
            return
        self.uplink.budget(
            float(rate), float(burst) if isinstance(burst, int) and burst > 0 else None
        )

    async def _expire(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ages = {n: s.max_age for n, s in self.streams.items()}
            dropped = await self._blocking(
                self.spool.expire, time.time(), ages, DEFAULT_MAX_AGE_SECONDS
            )
            if dropped:
                log.warning("dropped %d spooled record(s) past their maximum age", dropped)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EXPIRE_SECONDS):
                    await stop.wait()

    async def _reports(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.report()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.report_seconds):
                    await stop.wait()

    async def report(self) -> None:
        """Take the figures of ``Site.status.data``: each stream's backlog, oldest unsent
        record, records sent and their rate since the last report, drops by reason."""
        backlog = await self._blocking(self.spool.backlog)
        drops = await self._blocking(self.spool.drops)  # it changes on the spool's thread
        now, sent = time.time(), dict(self.uplink.sent)
        names = sorted(set(backlog) | set(sent) | {s for s, _ in drops})[:256]
        last_at, last_sent = self._last_sent or (now, sent)
        streams = []
        for name in names:
            waiting = backlog.get(name)
            dropped = {r: n for (s, r), n in drops.items() if s == name}
            entry: dict[str, Any] = {
                "name": name,
                "backlogRecords": waiting.records if waiting else 0,
                "backlogBytes": waiting.bytes if waiting else 0,
                "sentRecords": sent.get(name, 0),
            }
            if waiting and waiting.oldest_at is not None:
                entry["oldestUnsentSeconds"] = round(max(0.0, now - waiting.oldest_at), 1)
            if now > last_at:
                rate = (sent.get(name, 0) - last_sent.get(name, 0)) / (now - last_at)
                entry["rateRecordsPerSecond"] = round(rate, 2)
            if dropped:
                entry["dropped"] = dropped
            streams.append(entry)
        self._last_sent = (now, sent)
        bucket = self.uplink.bucket
        traffic = {
            "streams": streams,
            "sentBytes": self.uplink.sent_bytes,
            "failures": self.uplink.failures,
            "spoolBytes": self.spool.used_bytes,
            "lastError": (self.uplink.last_error or "")[:1000] or None,
            "budgetBytesPerSecond": int(bucket.rate) if bucket is not None else None,
        }
        # Absent rather than null: the stored status holds no nulls to compare with.
        self.traffic = {k: v for k, v in traffic.items() if v is not None}

    async def _blocking(self, f: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, f, *args)


async def _first(stop: asyncio.Event, event: asyncio.Event, seconds: float) -> None:
    """Wait for ``stop``, ``event`` or ``seconds``, whichever comes first."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _said(task: asyncio.Task[None]) -> None:
    """A data loop that ended by itself is a fault: say so (the others go on)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("data home: %s stopped: %r", task.get_name(), error, exc_info=error)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _read_port(path: Path) -> int | None:
    try:
        port = int(path.read_text())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None
