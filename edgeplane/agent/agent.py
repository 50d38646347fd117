"""The agent: joins (once), then runs its loops side by side until told to stop.

* ``AssignmentSync`` keeps the local copy of this site's assignments (protocol v2: from
  the site's one stream, which also brings the hub's log requests to an ``Answerer``);
* ``Reconciler`` makes the runtime match it;
* ``StatusReporter`` sends status changes and heartbeats, and renews the site's lease;
* ``GateProber`` checks the rollout gates (``spec.gate.http``) of Ready instances;
* ``Fence`` stops the ``fencing: Strict`` workloads when that lease ends (self-fencing);
* ``DataPlane`` takes the workloads' records on loopback, spools them and sends them
  home within the uplink budget (``agent.data``);
* ``LocalNames`` answers DNS for the fleet's applications at the site, its own
  instances first (``--dns-listen``, ``agent.naming``);
* ``Metering`` samples the metrics autoscaled assignments name (cpu from the runtime,
  the others as workloads report them to the data plane) for their status;
* ``serve_requests`` answers the hub's log requests (protocol v1: a long poll).

The runtime adopts the workloads its records name before anything else, so an agent
that restarts (or starts while the hub is down) keeps them running. Which runtime
``--runtime`` names is ``runtimes.factory``'s business: ``process`` by default,
``kubernetes`` (its package imported only then), or both behind one ``MixedRuntime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeplane.agent.artifacts import MAX_ARTIFACT_BYTES, ArtifactCache
from edgeplane.agent.credentials import Identity, obtain_identity, save_identity
from edgeplane.agent.data import DEFAULT_SPOOL_MAX_BYTES, REPORT_SECONDS, DataPlane
from edgeplane.agent.discovery.runner import Discovery
from edgeplane.agent.fencing import Fence
from edgeplane.agent.gates import GateProber
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.inventory import MAX_INSTANCES, Capacity, host_inventory
from edgeplane.agent.layout import Layout
from edgeplane.agent.metering import METRICS_SECONDS, Metering
from edgeplane.agent.metrics import ReportedMetrics
from edgeplane.agent.naming import LocalDns, LocalNames
from edgeplane.agent.pinning import hub_verify
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter, site_facts
from edgeplane.agent.requests import Answerer, serve_requests
from edgeplane.agent.runtimes import Runtime
from edgeplane.agent.runtimes.factory import (
    KUBERNETES,
    PROCESS,
    RuntimeOptions,
    runtime_builder,
)
from edgeplane.agent.runtimes.factory import KubeOptions as KubeOptions  # for __main__
from edgeplane.agent.runtimes.mixed import MixedRuntime
from edgeplane.agent.runtimes.process import ProcessRuntime
from edgeplane.agent.secrets import SecretKeeper
from edgeplane.agent.state import LocalState, Object
from edgeplane.agent.sync import AssignmentSync
from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.dataplane.spool import DEFAULT_RESERVE_BYTES

log = logging.getLogger("edgeplane.agent")
ARTIFACT_SWEEP_SECONDS = 10.0
"""How often unpacked artifacts that nothing needs any more are removed."""


@dataclass(frozen=True)
class AgentSettings:
    data_dir: Path
    workload_dir: Path | None = None
    """Artifacts and working directories; ``<data_dir>-workloads`` unless given."""
    hub: str | None = None
    join_token: str | None = None
    site: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None
    address: str = "127.0.0.1"
    heartbeat_seconds: float = 10.0
    stop_workloads_on_exit: bool = False
    artifact_limits: ArtifactLimits = field(default_factory=ArtifactLimits)
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES
    max_instances: int = MAX_INSTANCES
    hub_protocol: str = "v2"
    """``v2``: heartbeats to the heartbeat route and one stream of assignments, requests
    and bookmarks; ``v1``: status heartbeats, an assignment watch and a request long poll
    (what agents did before). v2 falls back to v1 per feature on an older hub."""
    kube: KubeOptions | None = None
    """Set: the kubernetes runtime (``--runtime kubernetes``); None: processes."""
    data_port: int | None = None
    """The publishing endpoint's port (``agent.data``); None: the one used last, or any."""
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    data_report_seconds: float = REPORT_SECONDS
    spool_reserve_bytes: int = DEFAULT_RESERVE_BYTES
    mqtt_broker: str | None = None
    """The site's own MQTT broker, for DataStreams published over MQTT (``agent.mqttin``)."""
    """Disk space the spool leaves free (its records make room, or publishers get 429)."""
    metrics_seconds: float = METRICS_SECONDS
    """How often autoscaled assignments' metrics are sampled (``agent.metering``)."""
    dns: LocalDns | None = None
    """The site's own DNS for the fleet's applications (``agent.naming``); None: none."""
    runtimes: tuple[str, ...] = ()
    """What ``--runtime`` names, in its order; empty: what ``kube`` says (process or
    kubernetes alone). ``(process, kubernetes)`` in either order, with ``kube``: both."""

    @property
    def runtime_kinds(self) -> tuple[str, ...]:
        if self.runtimes:
            return self.runtimes
        return (PROCESS,) if self.kube is None else (KUBERNETES,)


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.capacity = Capacity.detect(settings.cpu, settings.memory, settings.max_instances)
        self.inventory = join_inventory(settings.runtime_kinds)
        self.identity: Identity | None = None
        self.layout = Layout.of(settings.data_dir, settings.workload_dir)
        self.data: DataPlane | None = None

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        layout = self.layout
        # A bad kind or cluster config fails here, before anything is made.
        options = RuntimeOptions(layout, settings.max_instances, settings.kube)
        runtime_for = runtime_builder(settings.runtime_kinds, options)
        layout.prepare()  # before anything is written: the credential lands in a 0700 dir
        identity = self.identity = await obtain_identity(
            settings.data_dir,
            settings.hub,
            settings.join_token,
            settings.site,
            settings.labels,
            self.inventory,
        )
        log.info("site %s, hub %s", identity.site, identity.hub)
        link = HubLink(
            identity.hub,
            identity.token,
            verify=hub_verify(identity.hub, settings.data_dir),
            on_rotated=lambda token: save_identity(
                settings.data_dir, dataclasses.replace(identity, token=token)
            ),
        )
        state = LocalState(layout.state_db)
        runtime = runtime_for(identity.site)
        try:
            await runtime.start()
            await self._loops(link, state, runtime, identity, stop)
        finally:
            if settings.stop_workloads_on_exit:
                # Side by side: n workloads that ignore SIGTERM take one grace period
                # (the longest), not the sum of theirs.
                await asyncio.gather(*(runtime.remove(key) for key in sorted(runtime.keys())))
            await runtime.close()
            await link.close()
            state.close()

    async def _loops(
        self,
        link: HubLink,
        state: LocalState,
        runtime: Runtime,
        identity: Identity,
        stop: asyncio.Event,
    ) -> None:
        wake, status_changed = asyncio.Event(), runtime.changed()
        artifacts = ArtifactCache(
            self.layout.artifacts_dir,
            lambda n, v: _fetch(link, n, v),
            self.settings.artifact_limits,
            self.settings.max_artifact_bytes,
        )
        sync = self._sync(link, state, runtime, identity.site, wake)
        fence = Fence(state, wake, sync.request_relist)
        sync.on_listed = fence.listed
        reconciler = Reconciler(
            state,
            runtime,
            artifacts.ensure,
            self.capacity,
            wake,
            status_changed,
            self.settings.runtime_kinds,
            fence.closed,
        )
        address = self.settings.address
        gates = GateProber(state.assignments, runtime.statuses, status_changed)
        reported = ReportedMetrics(runtime.keys)
        metering = Metering(
            state.assignments, runtime, reported, status_changed, self.settings.metrics_seconds
        )
        reporter = StatusReporter(
            link,
            state,
            identity.site,
            runtime,
            reconciler,
            lambda: self._site_facts(reconciler, runtime),
            address,
            status_changed,
            self.settings.heartbeat_seconds,
            self.settings.hub_protocol,
            fence,
            gates,
            metering.of,
        )
        data = self.data = DataPlane(
            self.layout.data_dir,
            identity.site,
            link,
            state.assignments,
            self.settings.spool_max_bytes,
            self.settings.data_port,
            self.settings.data_report_seconds,
            self.settings.spool_reserve_bytes,
            self.settings.mqtt_broker,
            reported,
        )
        await data.start()  # before the first reconcile: workloads are told its address
        secrets = SecretKeeper(
            self.layout.data_dir / "secrets",
            self.layout.workload_dir / "secrets",
            link,
            identity.site,
        )
        reconciler.extra_env, reconciler.secrets = data.env_for, secrets.environment
        reconciler.kept = secrets.keep_only
        data_stop = asyncio.Event()
        wake.set()  # reconcile what the local state holds before the hub answers
        tasks = [
            asyncio.create_task(data.run(data_stop), name="data"),
            asyncio.create_task(
                Discovery(link, identity.site, self.layout.data_dir).run(data_stop),
                name="discovery",
            ),
            asyncio.create_task(reconciler.run(), name="reconciler"),
            asyncio.create_task(fence.run(), name="fence"),
            asyncio.create_task(reporter.run_status(), name="status"),
            asyncio.create_task(reporter.run_heartbeats(), name="heartbeats"),
            asyncio.create_task(sync.run(), name="sync"),
            asyncio.create_task(gates.run(), name="gates"),
            asyncio.create_task(metering.run(), name="metering"),
        ]
        if (dns := self.settings.dns) is not None:
            names = LocalNames(
                link,
                identity.site,
                address,
                state.assignments,
                runtime.statuses,
                self.layout.data_dir,
            )
            tasks.append(asyncio.create_task(names.run(dns, data_stop), name="dns"))
        if self.settings.hub_protocol != "v2":
            tasks.append(
                asyncio.create_task(serve_requests(link, identity.site, runtime), name="requests")
            )
        if isinstance(runtime, ProcessRuntime | MixedRuntime):
            sweep = sweep_artifacts(state, runtime, artifacts)
            tasks.append(asyncio.create_task(sweep, name="artifacts"))
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping and task.exception():
                    raise task.exception()  # type: ignore[misc]
        finally:
            data_stop.set()
            for task in [*tasks, stopping]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _sync(
        self, link: HubLink, state: LocalState, runtime: Runtime, site: str, wake: asyncio.Event
    ) -> AssignmentSync:
        """v2: the site's stream (assignments and requests in one); v1: a watch (and a
        request long poll beside it, ``serve_requests``)."""
        if self.settings.hub_protocol == "v2":
            answerer = Answerer(link, site, runtime)
            return AssignmentSync(link, state, site, wake, answerer=answerer)
        return AssignmentSync(link, state, site, wake)

    def _site_facts(self, reconciler: Reconciler, runtime: Runtime) -> dict[str, Any]:
        facts = self._runtime_facts(reconciler, runtime)
        if self.data is not None and self.data.traffic:
            facts["data"] = self.data.traffic
        return facts

    def _runtime_facts(self, reconciler: Reconciler, runtime: Runtime) -> dict[str, Any]:
        address = self.settings.address
        view = getattr(runtime, "view", None)  # a KubernetesRuntime's nodes
        if view is None:
            return site_facts(reconciler, runtime, self.inventory, address)
        # The cluster's nodes say capacity and nodes; the host, beside a process
        # runtime, its own arch and os; the first runtime named is ``runtime``.
        inventory = view.inventory() | {
            k: v for k, v in self.inventory.items() if k in ("arch", "os", "runtime", "runtimes")
        }
        return site_facts(reconciler, runtime, inventory, address, view.resources())


def join_inventory(kinds: tuple[str, ...]) -> dict[str, Any]:
    """The inventory the agent joins with (and a process site reports): the host's, with
    what the agent runs. A kubernetes site's facts come from its nodes (with its first
    status): the host it runs on says nothing of them, beyond its own arch and os when
    it also runs processes."""
    runs = {"runtime": kinds[0], "runtimes": list(kinds)}
    if PROCESS not in kinds:
        return runs
    if KUBERNETES not in kinds:
        return host_inventory(PROCESS) | runs
    host = host_inventory(PROCESS)
    return {"arch": host["arch"], "os": host["os"]} | runs


def artifacts_in_use(assignments: Iterable[Object], running: Iterable[Path]) -> set[str]:
    """The sha256 of every artifact an assignment names and of every directory an
    instance runs from."""
    used = {Path(d).name for d in running}
    for obj in assignments:
        process = ((obj.get("spec") or {}).get("workload") or {}).get("process") or {}
        for artifact in process.get("artifacts") or []:
            if isinstance(artifact, dict) and isinstance(artifact.get("sha256"), str):
                used.add(artifact["sha256"])
    return used


async def sweep_artifacts(
    state: LocalState,
    runtime: ProcessRuntime | MixedRuntime,
    artifacts: ArtifactCache,
    every: float = ARTIFACT_SWEEP_SECONDS,
) -> None:
    """Remove unpacked artifacts nothing needs any more: every version deployed used to
    stay on the site's disk for good."""
    while True:
        await asyncio.sleep(every)
        try:
            keep = artifacts_in_use(state.assignments().values(), runtime.artifact_dirs())
            await artifacts.collect(keep)
        except Exception:  # a full disk (or anything) must not end the agent
            log.exception("unused artifacts not removed; trying again")


async def _fetch(link: HubLink, name: str, version: str) -> AsyncIterator[bytes]:
    async for chunk in link.download(f"{API}/artifacts/{name}/{version}/content"):
        yield chunk
