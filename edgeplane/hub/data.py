"""Data home, the hub's side: sites send record batches, the hub stores them in each
stream's sink and acknowledges what is stored; users read them back.

* ``POST /sites/{site}/data`` (the site's credential, its own site only: ``hub.authz``):
  a batch in the format of ``dataplane.wire``. Each record goes to its DataStream's
  sink (the hub's own store; NATS or MQTT when the hub has them, ``hub.datasinks``);
  the answer lists the sequence numbers acknowledged. A record already stored (a batch
  sent again after a lost answer) is acknowledged and not stored again: exactly once in
  effect. A record for a stream that does not exist, or that the site may not reach, is
  acknowledged and dropped (counted): a site must not retry it forever, nor write into
  a stream that is none of its business. A sink that fails fails the request (503): the
  site keeps the records and sends them again.
* ``GET /sites/{site}/datastreams``: what the site's agent needs: the streams it
  reaches, each with the applications at the site that may publish to it, and the
  site's uplink budget.
* ``GET /datastreams/{name}/records``: records of the hub's own sink, by site and time,
  paged by id (``edgeplane data query`` and ``data tail``).

Until the hub's informer has its first list, both site routes answer 503: it would
know no stream, and acknowledge and drop everything as unknown.

A site reaches a stream when the stream's selector matches the labels of an
Application assigned to that site, or that was within a week (no selector: every
application; ``hub.datareach``): decided from the stored objects (the informer's),
never from anything the site sends.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.datastreams import priority_of
from edgeplane.api.wire import Object
from edgeplane.dataplane import wire
from edgeplane.hub.datareach import Reach
from edgeplane.hub.datasinks import Sinks, SinkUnavailable
from edgeplane.hub.errors import ApiError
from edgeplane.hub.informer import Informer
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.resources import ObjectResponse
from edgeplane.store.protocol import DataRecord, RecordQuery, Store

router = APIRouter(prefix="/api/v1alpha1")
QUERY_LIMIT_MAX = 1000


@router.post("/sites/{site}/data", response_model=None)
async def ingest(request: Request, site: str) -> Response:
    body = await request.body()
    try:
        batch = wire.decode(body)
    except wire.BadBatch as e:
        raise ApiError(400, "BadBatch", f"the record batch is refused: {e}", "body") from None
    state = request.app.state
    metrics: HubMetrics = state.metrics
    metrics.data_bytes.inc(len(body))
    reach = _reach(request).of(site)
    streams = {name: _stream(state.informer, name) for name in reach}
    outcomes: Counter[tuple[str, str]] = Counter()
    by_sink: dict[str, list[DataRecord]] = {}
    for r in batch.records:
        stream = streams.get(r.stream)
        if stream is None:
            gone = state.informer.get("DataStream", r.stream) is None
            outcomes[("", "unknown-stream" if gone else "not-allowed")] += 1
            continue
        record = DataRecord(site, batch.epoch, r.seq, r.stream, r.at, r.priority, r.body)
        by_sink.setdefault(_sink_of(stream), []).append(record)
    for kind, records in by_sink.items():
        await _store(request, kind, records, outcomes)
    for (stream_name, outcome), n in outcomes.items():
        metrics.data_records.labels(stream_name, outcome).inc(n)
    dropped = Counter({o: n for (_, o), n in outcomes.items() if o not in ("stored", "duplicate")})
    acknowledged = [r.seq for r in batch.records]
    return ObjectResponse({"acknowledged": acknowledged, "dropped": dict(dropped)})


async def _store(
    request: Request, kind: str, records: Sequence[DataRecord], outcomes: Counter[tuple[str, str]]
) -> None:
    if kind == "hub":
        store: Store = request.app.state.store
        by_stream: dict[str, list[DataRecord]] = {}
        for r in records:
            by_stream.setdefault(r.stream, []).append(r)
        for name, theirs in by_stream.items():
            new = await store.put_records(theirs)
            outcomes[(name, "stored")] += new
            outcomes[(name, "duplicate")] += len(theirs) - new
        return
    sinks: Sinks = request.app.state.data_sinks
    try:
        await sinks.store(kind, records)
    except SinkUnavailable as e:
        raise ApiError(503, "SinkUnavailable", str(e)) from None
    for r in records:
        outcomes[(r.stream, "stored")] += 1


@router.get("/sites/{site}/datastreams", response_model=None)
async def site_streams(request: Request, site: str) -> Response:
    informer: Informer = request.app.state.informer
    reach = _reach(request).of(site)
    items = []
    for name, apps in sorted(reach.items()):
        spec = (_stream(informer, name) or {}).get("spec") or {}
        items.append(
            {
                "name": name,
                "priority": priority_of(spec.get("priority")),
                "retention": spec.get("retention") or {},
                "aggregation": spec.get("aggregation"),
                "mqtt": spec.get("mqtt"),
                "applications": list(apps),
            }
        )
    site_obj = informer.get("Site", site) or {}
    uplink = (site_obj.get("spec") or {}).get("uplink") or {}
    return ObjectResponse({"uplink": uplink, "streams": items})


@router.get("/datastreams/{name}/records", response_model=None)
async def records(
    request: Request,
    name: str,
    site: str | None = Query(None, max_length=253),
    since: float | None = Query(None, allow_inf_nan=False),
    until: float | None = Query(None, allow_inf_nan=False),
    after: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=QUERY_LIMIT_MAX),
) -> Response:
    informer: Informer = request.app.state.informer
    if informer.get("DataStream", name) is None:
        raise ApiError(404, "NotFound", f'datastream "{name}" not found', "name")
    store: Store = request.app.state.store
    found = await store.query_records(RecordQuery(name, site, since, until, after, limit))
    items = [_shown(r) for r in found]
    return ObjectResponse({"items": items, "next": found[-1].id if found else after})


def _shown(r: DataRecord) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": r.id,
        "site": r.site,
        "seq": r.seq,
        "at": r.at,
        "received": r.received,
        "priority": r.priority,
    }
    try:
        shown["body"] = r.body.decode()
    except UnicodeDecodeError:
        shown["body"], shown["encoding"] = base64.b64encode(r.body).decode(), "base64"
    return shown


def _reach(request: Request) -> Reach:
    state = request.app.state
    if not state.informer.ready:
        # Before its first list the informer knows no stream: every record would be
        # acknowledged as unknown and dropped, and the agent told its streams are gone.
        raise ApiError(503, "Unavailable", "the hub is starting: send again in a moment")
    reach: Reach = state.data_reach
    return reach


def _stream(informer: Informer, name: str) -> Object | None:
    return informer.get("DataStream", name)


def _sink_of(stream: Object) -> str:
    """``hub``, or the external sink and its subject or topic: ``nats:<subject>``."""
    sink = (stream.get("spec") or {}).get("sink") or {}
    kind = sink.get("type") or "hub"
    return kind if kind == "hub" else f"{kind}:{sink.get('subject') or sink.get('topic') or ''}"
