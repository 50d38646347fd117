"""Prometheus metrics of one hub: requests, latencies, watches, store sizes, what the
limits refused (requests by limit, connections over the per-peer cap), and what the
health controller found (sites declared unreachable, sites whose silence is unusual)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from edgeplane.api.wire import Object
from edgeplane.store.protocol import Store

CHILDREN_CACHED = 1000
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edgeplane_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "edgeplane_http_request_duration_seconds",
            "Time to the response headers",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.watches = Gauge(
            "edgeplane_watches_active", "Open watch streams", registry=self.registry
        )
        self.limited = Counter(
            "edgeplane_limited_requests_total",
            "Requests answered 429 by a rate or watch limit",
            ["limit"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "edgeplane_connections_refused_total",
            "Connections closed at once: their peer held --connections-per-peer already",
            registry=self.registry,
        )
        # What woke the placement controller: a pass, or only applications' statuses.
        self.placement_passes = Counter(
            "edgeplane_placement_passes",
            "Placement passes run (each woken by a change placement reads)",
            registry=self.registry,
        )
        self.status_updates = Counter(
            "edgeplane_status_updates",
            "Application status updates from Assignment status alone, with no placement pass",
            registry=self.registry,
        )
        # The health controller's (``controllers.health``), on the leader.
        self.sites_unreachable = Counter(
            "edgeplane_sites_unreachable_total",
            "Sites marked Offline for no heartbeat, by why: suspicion (the failure "
            "detector), silence (--offline-after-seconds), never_reported (Pending)",
            ["reason"],
            registry=self.registry,
        )
        self.sites_suspected = Gauge(
            "edgeplane_sites_suspected",
            "Online or Pending sites whose silence was unusual at the last health check "
            "(suspicion phi >= 1: a silence the site's heartbeats make one in ten likely)",
            registry=self.registry,
        )
        self.objects = Gauge(
            "edgeplane_store_objects", "Stored objects by kind", ["kind"], registry=self.registry
        )
        self.resource_version = Gauge(
            "edgeplane_store_resource_version", "Newest resourceVersion", registry=self.registry
        )
        self.data_records = Counter(
            "edgeplane_data_records_total",
            "Records sites sent home, by DataStream and outcome (stored, duplicate: sent "
            "again after a lost answer; unknown-stream, not-allowed: acknowledged, dropped)",
            ["stream", "outcome"],
            registry=self.registry,
        )
        self.data_bytes = Counter(
            "edgeplane_data_received_bytes_total",
            "Bytes of record batches received (compressed, as on the wire)",
            registry=self.registry,
        )
        self.data_backlog = Gauge(
            "edgeplane_data_backlog_records",
            "Records waiting in sites' spools, by DataStream (as the sites last reported)",
            ["stream"],
            registry=self.registry,
        )
        self.data_backlog_bytes = Gauge(
            "edgeplane_data_backlog_bytes",
            "Bytes waiting in sites' spools, by DataStream",
            ["stream"],
            registry=self.registry,
        )
        self.data_oldest = Gauge(
            "edgeplane_data_oldest_unsent_seconds",
            "Age of the oldest record not yet sent, at any site, by DataStream",
            ["stream"],
            registry=self.registry,
        )
        self.data_dropped = Gauge(
            "edgeplane_data_site_dropped_records",
            "Records dropped at the sites since their agents started, by DataStream and "
            "reason (expired, evicted)",
            ["stream", "reason"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() costs a few microseconds a call (it checks and joins the values): the
        # children of each (method, route, status) are looked up once.
        children = self._children.get((method, route, status))
        if children is None:
            children = self._remember(method, route, status)
        children[0].inc()
        children[1].observe(seconds)

    def _remember(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        children = (
            self.requests.labels(method, route, str(status)),
            self.latency.labels(method, route),
        )
        if len(self._children) < CHILDREN_CACHED:  # methods are the client's: bounded
            self._children[(method, route, status)] = children
        return children

    def data_from(self, sites: Iterable[Object]) -> None:
        """The data gauges from the sites' reported ``status.data`` (summed by stream)."""
        backlog: dict[str, list[float]] = {}
        dropped: dict[tuple[str, str], float] = {}
        for site in sites:
            data = (site.get("status") or {}).get("data") or {}
            for s in data.get("streams") or ():
                sums = backlog.setdefault(s["name"], [0.0, 0.0, 0.0])
                sums[0] += s.get("backlogRecords", 0)
                sums[1] += s.get("backlogBytes", 0)
                sums[2] = max(sums[2], s.get("oldestUnsentSeconds") or 0.0)
                for reason, n in (s.get("dropped") or {}).items():
                    dropped[(s["name"], reason)] = dropped.get((s["name"], reason), 0.0) + n
        for gauge in (self.data_backlog, self.data_backlog_bytes, self.data_oldest):
            gauge.clear()  # a stream no site reports any more goes from the output
        self.data_dropped.clear()
        for name, (records, size, oldest) in backlog.items():
            self.data_backlog.labels(name).set(records)
            self.data_backlog_bytes.labels(name).set(size)
            self.data_oldest.labels(name).set(oldest)
        for (name, reason), n in dropped.items():
            self.data_dropped.labels(name, reason).set(n)

    async def render(self, store: Store, kinds: list[str]) -> bytes:
        counts = await store.counts()
        for kind in kinds:
            self.objects.labels(kind).set(counts.get(kind, 0))
        self.resource_version.set(await store.current_resource_version())
        return bytes(generate_latest(self.registry))
