"""``KubernetesRuntime``: the ``Runtime`` protocol over a cluster, or a node pool of one.

One instance per assignment (key = the assignment's name), whatever its manifests'
replicas: the cluster's controllers run the pods, the hub scales Divided manifests.

* ``ensure`` renders the manifests (``render``, with each kind's scope from discovery)
  and server-side applies them (``apply.apply_objects``); what goes wrong is the
  instance's status: ``InvalidManifest`` or ``ApplyFailed`` with the apiserver's own
  message, ``FieldConflict`` naming the fields, ``ClusterUnreachable`` (retried);
* ``remove`` deletes what the assignment applied (``apply.delete_objects``); in pool
  mode only while a node of the pool is Ready: nothing is deleted while it is cut off;
* a status pass every ``poll_seconds`` retries what is due and reads the objects back
  (``health``), so statuses follow the cluster without the reconciler;
* ``sample_cpu`` reads the pods' CPU from the cluster's metrics API (``usage``).

A restarted agent adopts: its records say what was applied at which generation, the
inventory ConfigMaps (``apply.applied_refs``) which objects, and an ensure of the same
generation and workload applies nothing. Nothing is deleted at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from edgeplane.agent.runtimes import CpuUse, InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.kubernetes.apply import (
    applied_refs,
    apply_objects,
    delete_objects,
)
from edgeplane.agent.runtimes.kubernetes.client import (
    KubeClient,
    KubeError,
    KubeUnreachable,
    ObjectRef,
)
from edgeplane.agent.runtimes.kubernetes.facts import ClusterView
from edgeplane.agent.runtimes.kubernetes.health import (
    assess,
    read_objects,
    read_slices,
    service_namespaces,
)
from edgeplane.agent.runtimes.kubernetes.instances import (
    Instance,
    Problem,
    crd_kinds,
    identity_of,
    same,
    status_of,
    unreachable,
)
from edgeplane.agent.runtimes.kubernetes.logs import assignment_logs
from edgeplane.agent.runtimes.kubernetes.pool import site_workload
from edgeplane.agent.runtimes.kubernetes.records import Record, RecordStore, check_key
from edgeplane.agent.runtimes.kubernetes.render import RenderError, render
from edgeplane.agent.runtimes.kubernetes.usage import PodCpu

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")
RETRY_FAILED_SECONDS = 30.0
"""How soon a refused apply is tried again: the refusal may depend on the cluster (a
CRD another team installs, a quota), which the agent is not told about."""


class KubernetesRuntime:
    def __init__(
        self,
        client: KubeClient,
        view: ClusterView,
        directory: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.view, self.settings = client, view, view.settings
        self._records = RecordStore(directory / "instances")
        self._instances: dict[str, Instance] = {}
        self._statuses: dict[str, InstanceStatus] = {}
        self._changed = asyncio.Event()
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._held_logged = False
        self._cpu = PodCpu(client)

    # -- the Runtime protocol ---------------------------------------------------------

    async def start(self) -> None:
        for record in self._records.load_all():
            self._adopt(record)
        self._tasks = [
            asyncio.create_task(self._poll_forever(), name="kubernetes status"),
            asyncio.create_task(self.view.run(), name="cluster facts"),
        ]

    async def close(self) -> None:
        tasks = [*self._tasks, *self._retries.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.client.close()

    async def ensure(self, spec: InstanceSpec) -> None:
        check_key(spec.key)
        instance = self._instances.get(spec.key)
        if instance is not None and same(instance.spec, spec):
            # Applied, or failing and retried by the status pass on its own schedule.
            instance.removing = False
            return
        if instance is None and len(self._instances) >= self.settings.max_instances:
            raise ValueError(
                f"this site holds {self.settings.max_instances} assignments already "
                "(the agent's --max-instances)"
            )
        namespace = self.settings.namespace(str(spec.workload.get("namespace") or ""))
        if instance is not None and instance.namespace != namespace and instance.applied:
            await self._delete_now(instance)  # what the old namespace holds goes
        if instance is None or instance.spec.key not in self._instances:
            instance = self._instances[spec.key] = Instance(spec, namespace)
        instance.spec, instance.namespace, instance.removing = spec, namespace, False
        instance.applied = False
        self._records.save(instance.record())
        await self._apply(instance)

    async def remove(self, key: str) -> None:
        instance = self._instances.get(key)
        if instance is None:
            self._records.delete(key)
            return
        instance.removing = True
        await self._delete_when_allowed(instance)

    def keys(self) -> set[str]:
        return set(self._instances)

    def statuses(self) -> dict[str, InstanceStatus]:
        return dict(self._statuses)

    def log_tail(self, key: str, lines: int) -> str:
        """Pod logs are read over the network: ``read_logs`` does it; this says so."""
        if key not in self._instances:
            raise KeyError(key)
        return "(pod logs are read with read_logs)\n"

    async def read_logs(self, key: str, lines: int) -> str:
        """The last ``lines`` lines of every container of the assignment's pods;
        KeyError when the assignment is not held here."""
        instance = self._instances.get(key)
        if instance is None:
            raise KeyError(key)
        return await assignment_logs(self.client, key, _namespaces(instance), lines)

    def changed(self) -> asyncio.Event:
        return self._changed

    async def sample_cpu(self, keys: Collection[str]) -> dict[str, tuple[CpuUse, ...]]:
        """The CPU of each applied assignment's Ready pods (``usage``)."""
        held = [i for k in keys if (i := self._instances.get(k)) and i.applied and not i.removing]
        return await self._cpu.sample({i.spec.key: _namespaces(i) for i in held})

    # -- applying ---------------------------------------------------------------------

    def _adopt(self, record: Record) -> None:
        spec = InstanceSpec(record.key, record.generation, record.workload)
        instance = Instance(spec, record.namespace, applied=record.applied)
        # Not applied (the agent stopped mid-way): apply at the first pass.
        instance.retry_at = None if record.applied else 0.0
        self._instances[record.key] = instance
        self._set_status(instance)

    async def _apply(self, instance: Instance) -> None:
        async with instance.lock:
            if instance.removing or self._instances.get(instance.spec.key) is not instance:
                return  # removed while this (a retry) waited for the lock
            problem = await self._try_apply(instance)
            instance.problem, instance.applied = problem, problem is None
            instance.retry_at = self._retry_at(problem)
            if problem is None:
                instance.summary = None  # read again, of what this apply wrote
                self._records.save(instance.record())
            else:
                log.warning("%s: %s: %s", instance.spec.key, problem.reason, problem.message)
            self._set_status(instance)

    def _retry_at(self, problem: Problem | None) -> float | None:
        if problem is None:
            return None
        wait = self.settings.poll_seconds
        if problem.reason != "ClusterUnreachable":
            wait = max(wait, RETRY_FAILED_SECONDS)
        return self._clock() + wait

    async def _try_apply(self, instance: Instance) -> Problem | None:
        try:
            objects = await self._render(instance)
        except RenderError as e:
            return Problem(Phase.FAILED, "InvalidManifest", str(e))
        except KubeUnreachable as e:
            return unreachable(e)
        except KubeError as e:
            return Problem(Phase.FAILED, "InvalidManifest", e.message)
        instance.refs = tuple(ObjectRef.of(o) for o in objects)
        try:
            outcome = await apply_objects(
                self.client,
                objects,
                assignment=instance.spec.key,
                namespace=instance.namespace,
                field_manager=self.settings.field_manager,
                force=bool(instance.spec.workload.get("force")),
            )
        except KubeUnreachable as e:
            return unreachable(e)
        except KubeError as e:
            return Problem(Phase.FAILED, "ApplyFailed", e.message)
        if outcome.error:
            return Problem(Phase.FAILED, "ApplyFailed", outcome.error)
        if outcome.conflicts:
            return Problem(Phase.FAILED, "FieldConflict", "; ".join(outcome.conflicts))
        return None

    async def _render(self, instance: Instance) -> list[dict[str, Any]]:
        workload = site_workload(instance.spec.workload, self.settings)
        identity = identity_of(instance.spec)
        scopes = await self._scopes(workload.get("manifests") or [])
        if self.settings.pool is not None and self.view.facts is None:
            await self.view.refresh()  # the pool's taints, for its tolerations
        # In a worker thread: 1 MiB of manifests takes tens of ms to copy and label,
        # which would hold every other assignment's status pass and the heartbeat.
        pool = self.view.node_pool()
        return await asyncio.to_thread(render, workload, identity, scopes=scopes, pool=pool)

    async def _scopes(self, manifests: Sequence[Any]) -> dict[tuple[str, str], bool]:
        """Whether each kind is namespaced, from discovery (cached by the client)."""
        scopes: dict[tuple[str, str], bool] = {}
        defined = crd_kinds(manifests)
        for i, m in enumerate(manifests):
            kind = (str(m.get("apiVersion")), str(m.get("kind")))
            if kind in scopes or kind in defined:
                continue
            try:
                scopes[kind] = (await self.client.resource(*kind)).namespaced
            except KubeUnreachable:
                raise
            except KubeError as e:
                name = (m.get("metadata") or {}).get("name")
                raise RenderError(f"manifests[{i}] ({kind[1]} {name}): {e.message}") from e
        return scopes

    # -- removing ---------------------------------------------------------------------

    async def _delete_when_allowed(self, instance: Instance) -> None:
        if not self.view.pool_ready():
            if not self._held_logged:
                log.warning("the node pool has no Ready node: removals wait for one")
                self._held_logged = True
            return
        self._held_logged = False
        async with instance.lock:
            if not instance.removing:  # ensured again meanwhile
                return
            with contextlib.suppress(KubeError):
                await self._delete_now(instance)
                self._forget(instance)

    async def _delete_now(self, instance: Instance) -> None:
        key = instance.spec.key
        try:
            await delete_objects(self.client, assignment=key, namespace=instance.namespace)
        except KubeError as e:
            log.warning("%s: not deleted yet (%s); retrying", key, e.message)
            raise
        log.info("%s: deleted what it applied in %s", key, instance.namespace)

    def _forget(self, instance: Instance) -> None:
        key = instance.spec.key
        if self._instances.get(key) is instance:
            del self._instances[key]
        self._statuses.pop(key, None)
        self._records.delete(key)
        self._changed.set()

    # -- the status pass --------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # an answer of an odd shape must not end the status pass
                log.exception("kubernetes status pass failed")
            await asyncio.sleep(self.settings.poll_seconds)

    async def poll(self) -> None:
        """One pass: removals and applies that are due, then every status. A retry runs
        in a task of its own, waited for at most ``poll_seconds``: one assignment's
        slow apply (a CRD that never becomes Established holds it 30 s) must not hold
        every other assignment's status."""
        retries: list[asyncio.Task[None]] = []
        for instance in list(self._instances.values()):
            if instance.removing:
                await self._delete_when_allowed(instance)
            elif instance.retry_at is not None and instance.retry_at <= self._clock():
                retries += self._retry(instance)
            elif instance.applied and not instance.refs:
                await self._learn_refs(instance)
        if retries:
            await asyncio.wait(retries, timeout=self.settings.poll_seconds)
        await self._read_statuses()

    def _retry(self, instance: Instance) -> list[asyncio.Task[None]]:
        """The task applying ``instance`` again, started unless one still runs."""
        key = instance.spec.key
        if key in self._retries:
            return []
        task = asyncio.create_task(self._apply(instance), name=f"kubernetes apply {key}")
        self._retries[key] = task
        task.add_done_callback(functools.partial(self._retried, key))
        return [task]

    def _retried(self, key: str, task: asyncio.Task[None]) -> None:
        self._retries.pop(key, None)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("%s: apply failed", key, exc_info=e)

    async def _learn_refs(self, instance: Instance) -> None:
        """An adopted assignment's objects, from its inventory; none there: apply it."""
        try:
            refs = await applied_refs(
                self.client, assignment=instance.spec.key, namespace=instance.namespace
            )
        except KubeError as e:
            log.warning("%s: inventory not read (%s); retrying", instance.spec.key, e.message)
            return
        instance.refs = tuple(refs)
        if not refs:
            instance.applied, instance.retry_at = False, self._clock()

    async def _read_statuses(self) -> None:
        live = [i for i in self._instances.values() if i.refs and not i.removing]
        refs = [r for i in live for r in i.refs]
        try:
            found, unread = await read_objects(self.client, refs, self.settings.selector)
            slices = await read_slices(self.client, service_namespaces(refs))
        except KubeUnreachable as e:
            log.warning("statuses not read: %s", e.message)
            return
        for instance in live:
            # In a worker thread, one assignment at a time: 256 objects' health take
            # tens of ms, and 256 assignments of them would hold the loop for seconds.
            key = instance.spec.key
            instance.summary = await asyncio.to_thread(
                assess, instance.refs, found, slices, unread, key
            )
            self._set_status(instance)

    def _set_status(self, instance: Instance) -> None:
        status = status_of(instance)
        if self._statuses.get(status.key) != status:
            self._statuses[status.key] = status
            self._changed.set()


def _namespaces(instance: Instance) -> set[str]:
    """Where an assignment's pods are: the namespaces of its objects."""
    return {r.namespace for r in instance.refs if r.namespace} or {instance.namespace}
