"""Reading back what the agent applied, and how ready it is.

One list per kind in use and namespace (label ``app.kubernetes.io/managed-by=edgeplane``,
and the site's label in pool mode; past ``PER_NAMESPACE_MAX`` namespaces one list
across them, keeping only the objects asked for), plus the EndpointSlices of the
namespaces that hold Services; then ``readiness.object_health`` per object the
assignment rendered and ``readiness.summarize`` per assignment. An object that is not
there (yet) is in progress. Kept apart from the runtime so that a status pass costs
requests per kind, not per object.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import (
    KubeClient,
    KubeError,
    KubeUnreachable,
    ObjectRef,
)
from edgeplane.agent.runtimes.kubernetes.readiness import (
    ObjectHealth,
    Summary,
    object_health,
    summarize,
)
from edgeplane.agent.runtimes.kubernetes.render import ASSIGNMENT_LABEL, label_value

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")
Found = dict[ObjectRef, dict[str, Any]]
Unread = dict[tuple[str, str], str]
"""(apiVersion, kind) -> why the cluster would not list it."""
Slices = dict[tuple[str, str], list[dict[str, Any]]]
SERVICE_NAME = "kubernetes.io/service-name"
ENDPOINT_SLICE = ("discovery.k8s.io/v1", "EndpointSlice")
PER_NAMESPACE_MAX = 8
"""Up to this many namespaces a kind is read namespace by namespace."""


async def read_objects(
    client: KubeClient, refs: Iterable[ObjectRef], selector: str
) -> tuple[Found, Unread]:
    """The labelled objects among ``refs``, by ref, and why a kind the cluster refused
    to list (a CRD not established yet, RBAC) was not read; an unreachable cluster
    raises. Only the objects asked for are kept, a page at a time."""
    wanted = set(refs)
    namespaces: dict[tuple[str, str], set[str | None]] = {}
    for ref in wanted:
        namespaces.setdefault((ref.api_version, ref.kind), set()).add(ref.namespace)
    found: Found = {}
    unread: Unread = {}
    for kind, where in sorted(namespaces.items()):
        try:
            await _read_kind(client, kind, where, selector, wanted, found)
        except KubeUnreachable:
            raise
        except KubeError as e:
            unread[kind] = e.message
    return found, unread


async def _read_kind(
    client: KubeClient,
    kind: tuple[str, str],
    where: set[str | None],
    selector: str,
    wanted: set[ObjectRef],
    found: Found,
) -> None:
    """Namespace by namespace when they are few (objects labelled like ours elsewhere,
    however many, cost nothing), else one list of the cluster; and by namespace again
    when that one is too long to read."""
    if None in where or len(where) > PER_NAMESPACE_MAX:
        try:
            return await _keep(client, kind, None, selector, wanted, found)
        except KubeUnreachable:
            raise
        except KubeError as e:
            if None in where or e.status not in (413, 502):
                raise
    for namespace in sorted(n for n in where if n is not None):
        await _keep(client, kind, namespace, selector, wanted, found)


async def _keep(
    client: KubeClient,
    kind: tuple[str, str],
    namespace: str | None,
    selector: str,
    wanted: set[ObjectRef],
    found: Found,
) -> None:
    async for page in client.pages(*kind, namespace, selector):
        for item in page:
            with contextlib.suppress(ValueError):  # an item without a name is not ours
                if (ref := ObjectRef.of(item)) in wanted:
                    found[ref] = item


async def read_slices(client: KubeClient, namespaces: Iterable[str]) -> Slices:
    """The EndpointSlices of these namespaces, by (namespace, service name)."""
    slices: Slices = {}
    for namespace in sorted(set(namespaces)):
        try:
            items = await client.list(*ENDPOINT_SLICE, namespace=namespace)
        except KubeUnreachable:
            raise
        except KubeError as e:
            log.debug("endpoint slices of %s not listed: %s", namespace, e)
            continue
        for item in items:
            service = ((item.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME)
            if isinstance(service, str):
                slices.setdefault((namespace, service), []).append(item)
    return slices


def service_namespaces(refs: Iterable[ObjectRef]) -> set[str]:
    return {r.namespace for r in refs if r.kind == "Service" and r.namespace is not None}


def health_of(
    ref: ObjectRef,
    found: Mapping[ObjectRef, Mapping[str, Any]],
    slices: Slices,
    unread: Unread | None = None,
    assignment: str | None = None,
) -> ObjectHealth:
    obj = found.get(ref)
    if obj is None:
        why = (unread or {}).get((ref.api_version, ref.kind))
        message = f"not read: {why}" if why else "not in the cluster yet"
        return ObjectHealth(ref.label(), "InProgress", message, None)
    if assignment is not None and (owner := _other_owner(ref, obj, assignment)) is not None:
        # Relabelled by someone else: its status is not this assignment's to report.
        message = f"labelled as assignment {owner[:80]!r}'s, not this one's"
        return ObjectHealth(ref.label(), "Failed", message, None)
    own: Sequence[Mapping[str, Any]] = ()
    if ref.kind == "Service" and ref.namespace is not None:
        own = slices.get((ref.namespace, ref.name), [])
    return object_health(obj, own)


def assess(
    refs: Sequence[ObjectRef],
    found: Found,
    slices: Slices,
    unread: Unread | None = None,
    assignment: str | None = None,
) -> Summary:
    """An assignment's phase, ready count, reason and message from its objects (those
    that another assignment's label claims are Failed, whatever their status says)."""
    return summarize([health_of(ref, found, slices, unread, assignment) for ref in refs])


def _other_owner(ref: ObjectRef, obj: Mapping[str, Any], assignment: str) -> str | None:
    if ref.kind == "Namespace":
        return None  # shared by the assignments that use it
    labels = (obj.get("metadata") or {}).get("labels")
    owner = labels.get(ASSIGNMENT_LABEL) if isinstance(labels, Mapping) else None
    ours = label_value(assignment, "assignment")
    return None if owner is None or owner == ours else str(owner)
