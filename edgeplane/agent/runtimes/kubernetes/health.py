"""Reading back what the agent applied, and how ready it is.

One list per kind in use (label ``app.kubernetes.io/managed-by=edgeplane``, and the
site's label in pool mode), across namespaces, plus the EndpointSlices of the
namespaces that hold Services; then ``readiness.object_health`` per object the
assignment rendered and ``readiness.summarize`` per assignment. An object that is not
there (yet) is in progress. Kept apart from the runtime so that a status pass costs
requests per kind, not per object.
"""

from __future__ import annotations

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


async def read_objects(
    client: KubeClient, kinds: Iterable[tuple[str, str]], selector: str
) -> tuple[Found, Unread]:
    """Every labelled object of these kinds, by ref, and why a kind the cluster refused
    to list (a CRD not established yet, RBAC) was not read; an unreachable cluster
    raises."""
    found: Found = {}
    unread: Unread = {}
    for api_version, kind in sorted(set(kinds)):
        try:
            items = await client.list(api_version, kind, label_selector=selector)
        except KubeUnreachable:
            raise
        except KubeError as e:
            unread[(api_version, kind)] = e.message
            continue
        for item in items:
            # Items of a list carry no apiVersion and kind of their own.
            whole = {**item, "apiVersion": api_version, "kind": kind}
            found[ObjectRef.of(whole)] = whole
    return found, unread


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
