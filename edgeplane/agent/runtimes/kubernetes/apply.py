"""Applying an assignment's rendered objects to a cluster, pruning what a new revision
dropped, and deleting it all when the assignment goes.

One apply, in this order (each object read first: ``ownership.claim`` refuses another
assignment's object and marks what this apply creates):

1. Namespaces and CRDs: dry run, then applied; each CRD waited for until Established
   and served (``CRD_WAIT_SECONDS`` in all), since what follows may need them.
2. A server-side dry run of everything else, in Helm's install order. Any refusal
   (invalid field, unknown kind, forbidden) is the outcome's ``error`` and nothing of
   it is applied; Namespaces this apply created are deleted again, so a refused
   revision leaves nothing behind. CRDs are never rolled back (see 5).
3. The inventory (``inventory.py``) is written as the union of the old and the new
   refs, so that an agent that dies mid-apply still knows every object it may have made.
4. Everything else is applied. A field another manager owns is a 409 conflict: without
   ``force`` it is reported in ``conflicts`` and that object is left as it is.
5. Only then, pruning: what the old inventory held and the new set does not is deleted,
   but only when it still carries this assignment's label (never another's object)
   and the agent created it (``ownership.py``: never what existed before),
   never a CRD (deleting one deletes every object of its kind in the whole cluster),
   and a Namespace (shared, whatever its label) only when no other assignment's
   inventory is kept in it or lists anything in it. Then the inventory is written as
   the new refs.

Transient failures (unreachable, 429, 5xx) raise (``KubeError``): the caller retries the
whole apply, which is idempotent. Applying the same objects again changes nothing in
the cluster (no new resourceVersion), which is what lets a restarted agent adopt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import KubeClient, KubeError, ObjectRef
from edgeplane.agent.runtimes.kubernetes.inventory import (
    inventory_ref,
    namespace_in_use,
    read_refs,
    write_refs,
)
from edgeplane.agent.runtimes.kubernetes.ownership import claim, created
from edgeplane.agent.runtimes.kubernetes.render import (
    ASSIGNMENT_LABEL,
    MAX_MANIFESTS,
    label_value,
)

MAX_OBJECTS = MAX_MANIFESTS + 1
"""The API's 256 manifests, and the Namespace render adds."""
CRD_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2
MAX_REPORTED = 5
"""Refusals named in one ``error``; the rest are counted."""
FORCE_HINT = "set spec.workload.kubernetes.force to take it"
INSTALL_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)  # fmt: skip
"""Helm's install order; kinds not listed (custom resources) come after all of these."""
_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
_MANAGER = re.compile(r'conflicts? with "([^"]{0,128})"')


@dataclass(frozen=True)
class ApplyOutcome:
    applied: tuple[ObjectRef, ...]
    pruned: tuple[ObjectRef, ...]
    conflicts: tuple[str, ...]
    """``Deployment shop/web: .spec.replicas is owned by kubectl-edit (set ...force ...)``"""
    error: str | None
    """``Deployment shop/web: <the apiserver's message>``; when set, nothing of this
    revision was applied beyond namespaces and CRDs."""


async def apply_objects(
    client: KubeClient,
    objects: list[dict[str, Any]],
    *,
    assignment: str,
    namespace: str,
    field_manager: str,
    force: bool,
) -> ApplyOutcome:
    """Apply the rendered ``objects`` of ``assignment`` (see the module's docstring)."""
    if problem := _check(objects):
        return ApplyOutcome((), (), (), problem)
    ordered, missing, problem = await claim(client, sorted(objects, key=_rank), assignment)
    if problem:
        return ApplyOutcome((), (), (), problem)
    first = [o for o in ordered if _is_namespace(o) or _is_crd(o)]
    rest = [o for o in ordered if not (_is_namespace(o) or _is_crd(o))]
    run = _Run(client, field_manager, force)
    created = {ObjectRef.of(o) for o in first if _is_namespace(o)} & missing
    error = (
        await run.dry_run(first)
        or await run.apply(first)
        or await _await_crds(client, [o for o in first if _is_crd(o)])
        or await run.dry_run(rest)
    )
    if error:
        removed = await _prune(client, created, assignment)  # what this apply created
        return run.outcome(error, exclude=removed)
    refs = [ObjectRef.of(o) for o in ordered]
    previous = await read_refs(client, assignment, namespace)
    inventory = _Inventory(client, assignment, namespace, field_manager)
    error = await inventory.write([*previous, *refs]) or await run.apply(rest)
    if error:
        return run.outcome(error)
    pruned = await _prune(client, set(previous) - set(refs), assignment)
    if error := await inventory.write(refs):
        return run.outcome(error)
    return run.outcome(None, pruned=pruned)


async def delete_objects(client: KubeClient, *, assignment: str, namespace: str) -> None:
    """Delete what the assignment applied (never CRDs; Namespaces as pruning does), then
    its inventory. The Namespace ``namespace`` is a candidate even when the inventory
    is gone (an apply that died before writing it)."""
    refs = set(await read_refs(client, assignment, namespace))
    refs.add(ObjectRef("v1", "Namespace", None, namespace))
    await _prune(client, refs, assignment)
    await client.delete(inventory_ref(assignment, namespace))


async def applied_refs(client: KubeClient, *, assignment: str, namespace: str) -> list[ObjectRef]:
    """What the assignment's inventory holds ([] when it has none)."""
    return await read_refs(client, assignment, namespace)


class _Run:
    """One apply's progress: what was applied, which objects conflict."""

    def __init__(self, client: KubeClient, field_manager: str, force: bool) -> None:
        self.client, self.field_manager, self.force = client, field_manager, force
        self.applied: list[ObjectRef] = []
        self.conflicts: list[str] = []
        self.skipped: set[ObjectRef] = set()

    async def dry_run(self, objects: Sequence[Mapping[str, Any]]) -> str | None:
        """Every refusal of a dry run of ``objects`` (conflicts are recorded, not refusals)."""
        refusals: list[str] = []
        for obj in objects:
            try:
                await self._apply(obj, dry_run=True)
            except KubeError as e:
                if refusal := self._refusal(ObjectRef.of(obj), e):
                    refusals.append(refusal)
        return _joined(refusals)

    async def apply(self, objects: Sequence[Mapping[str, Any]]) -> str | None:
        """Apply ``objects`` but those that conflict; the first refusal stops it."""
        for obj in objects:
            ref = ObjectRef.of(obj)
            if ref in self.skipped:
                continue
            try:
                stored = await self._apply(obj, dry_run=False)
            except KubeError as e:
                if refusal := self._refusal(ref, e):
                    return refusal
                continue
            self.applied.append(ref)
            if _is_namespace(obj) and _terminating(stored):
                return f"{ref.label()} is being deleted (removed, or a refused apply rolled back)"
        return None

    async def _apply(self, obj: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        return await self.client.apply(
            obj, field_manager=self.field_manager, force=self.force, dry_run=dry_run
        )

    def _refusal(self, ref: ObjectRef, e: KubeError) -> str | None:
        """The refusal to report; None for a conflict (recorded, and the object skipped
        from now on). A transient failure is raised again."""
        if _transient(e):
            raise e
        if not _is_conflict(e):
            return f"{ref.label()}: {e.message}"
        if ref not in self.skipped:
            self.skipped.add(ref)
            self.conflicts.append(conflict_message(ref, e))
        return None

    def outcome(
        self,
        error: str | None,
        *,
        pruned: tuple[ObjectRef, ...] = (),
        exclude: Iterable[ObjectRef] = (),
    ) -> ApplyOutcome:
        gone = set(exclude)
        applied = tuple(r for r in self.applied if r not in gone)
        return ApplyOutcome(applied, pruned, tuple(self.conflicts), error)


@dataclass(frozen=True)
class _Inventory:
    client: KubeClient
    assignment: str
    namespace: str
    field_manager: str

    async def write(self, refs: Iterable[ObjectRef]) -> str | None:
        """None, or the refusal (say, the namespace does not exist)."""
        try:
            await write_refs(
                self.client,
                refs,
                assignment=self.assignment,
                namespace=self.namespace,
                field_manager=self.field_manager,
            )
        except KubeError as e:
            if _transient(e):
                raise
            return f"{inventory_ref(self.assignment, self.namespace).label()}: {e.message}"
        return None


def conflict_message(ref: ObjectRef, e: KubeError) -> str:
    """``Deployment shop/web: .spec.replicas is owned by kubectl-edit (set ... force ...)``,
    from the 409's causes (one per field: ``conflict with "<manager>"``)."""
    fields: dict[str, list[str]] = {}
    for message, field in e.causes:
        match = _MANAGER.search(message)
        fields.setdefault(match[1] if match else "another manager", []).append(field)
    if not fields:
        return f"{ref.label()}: {e.message} ({FORCE_HINT})"
    owned = "; ".join(
        f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} owned by {manager}"
        for manager, names in fields.items()
    )
    return f"{ref.label()}: {owned} ({FORCE_HINT})"


def _check(objects: Sequence[Any]) -> str | None:
    """Why ``objects`` cannot be applied at all (before anything is sent), or None."""
    if len(objects) > MAX_OBJECTS:
        return (
            f"{len(objects)} objects: at most {MAX_OBJECTS} are applied at once "
            f"({MAX_MANIFESTS} manifests and their namespace); split the application"
        )
    seen: set[ObjectRef] = set()
    for i, obj in enumerate(objects):
        try:
            ref = ObjectRef.of(obj if isinstance(obj, Mapping) else {})
        except ValueError as e:
            return f"objects[{i}]: {e}"
        if ref in seen:
            return f"{ref.label()} appears twice: keep one"
        seen.add(ref)
    return None


async def _await_crds(client: KubeClient, crds: Sequence[Mapping[str, Any]]) -> str | None:
    """None once every CRD is Established and its kinds are served; else what is wrong."""
    ref: ObjectRef | None = None
    try:
        async with asyncio.timeout(CRD_WAIT_SECONDS):
            for crd in crds:
                ref = ObjectRef.of(crd)
                await _await_crd(client, ref)
    except TimeoutError:
        assert ref is not None
        stored = await client.get(ref)
        why = _crd_problem(stored)
        return f"{ref.label()}: not Established within {CRD_WAIT_SECONDS:.0f} s: {why}"
    return None


async def _await_crd(client: KubeClient, ref: ObjectRef) -> None:
    """Until the CRD is Established, then until discovery serves each of its versions
    (discovery lags the condition a little)."""
    while True:
        stored = await client.get(ref)
        if stored is not None and _established(stored):
            break
        await asyncio.sleep(POLL_SECONDS)
    spec = stored.get("spec") or {}
    kind = str((spec.get("names") or {}).get("kind"))
    served = [v.get("name") for v in spec.get("versions") or () if v.get("served")]
    for version in served:
        await _await_served(client, f"{spec.get('group')}/{version}", kind)


async def _await_served(client: KubeClient, api_version: str, kind: str) -> None:
    while True:
        try:
            await client.resource(api_version, kind)
            return
        except KubeError as e:
            if e.status != 404:
                raise
        await asyncio.sleep(POLL_SECONDS)


def _established(crd: Mapping[str, Any] | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _crd_problem(crd: Mapping[str, Any] | None) -> str:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or ()
    problems = [
        f"{c.get('type')}={c.get('status')}: {c.get('message') or c.get('reason')}"
        for c in conditions
        if c.get("status") != "True"
    ]
    return "; ".join(problems) or "the apiserver has not accepted it yet"


async def _prune(
    client: KubeClient, refs: Iterable[ObjectRef], assignment: str
) -> tuple[ObjectRef, ...]:
    """Delete ``refs`` that are still this assignment's, dependants before what they
    depend on; never CRDs. The refs deleted."""
    deleted: list[ObjectRef] = []
    for ref in sorted(refs, key=_deletion_key):
        if ref.kind == "CustomResourceDefinition":
            continue
        if await _delete_ours(client, ref, assignment):
            deleted.append(ref)
    return tuple(deleted)


async def _delete_ours(client: KubeClient, ref: ObjectRef, assignment: str) -> bool:
    stored = await client.get(ref)
    if not created(stored):
        return False  # gone, or there before the agent applied it: never its to delete
    if ref.kind == "Namespace":
        # Shared: whichever assignment applied it last labelled it. The last one out,
        # with no other assignment's objects left in it, deletes it.
        return not await namespace_in_use(client, ref.name, assignment) and (
            await client.delete(ref)
        )
    labels = ((stored or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(ASSIGNMENT_LABEL) != label_value(assignment, "assignment"):
        return False  # not this assignment's (any more): leave it
    return await client.delete(ref)


def _rank(obj: Mapping[str, Any]) -> int:
    return _RANK.get(str(obj.get("kind")), len(INSTALL_ORDER))


def _deletion_key(ref: ObjectRef) -> tuple[int, str, str, str]:
    return -_RANK.get(ref.kind, len(INSTALL_ORDER)), ref.kind, ref.namespace or "", ref.name


def _is_namespace(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1"


def _is_crd(obj: Mapping[str, Any]) -> bool:
    api_version = str(obj.get("apiVersion"))
    return obj.get("kind") == "CustomResourceDefinition" and api_version.startswith(
        "apiextensions.k8s.io/"
    )


def _terminating(namespace: Mapping[str, Any]) -> bool:
    return (namespace.get("status") or {}).get("phase") == "Terminating"


def _is_conflict(e: KubeError) -> bool:
    return e.status == 409 and (bool(e.causes) or e.message.startswith("Apply failed"))


def _transient(e: KubeError) -> bool:
    """Worth retrying as is: no answer, throttled, or the server's own failure."""
    return e.status == 0 or e.status == 429 or e.status >= 500


def _joined(refusals: Sequence[str]) -> str | None:
    if not refusals:
        return None
    more = len(refusals) - MAX_REPORTED
    return "; ".join(refusals[:MAX_REPORTED]) + (f"; and {more} more" if more > 0 else "")
