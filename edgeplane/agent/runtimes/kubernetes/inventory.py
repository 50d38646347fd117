"""What an assignment has applied to the cluster, kept in the cluster: one ConfigMap
``edgeplane-inventory-<assignment>`` in the assignment's namespace, labelled with the
assignment, whose ``refs`` entry is the JSON list of the objects applied.

Keeping it in the cluster (not in the agent's data directory) means another agent, or
this one after losing its disk, still knows what to prune and what to delete. Written
by server-side apply as the agent's field manager, so writing the same list again
changes nothing (no new resourceVersion). ``apply.py`` decides when to write it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import KubeClient, ObjectRef
from edgeplane.agent.runtimes.kubernetes.render import (
    ASSIGNMENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MAX_MANIFESTS,
    RESERVED_PREFIX,
    label_value,
)

PREFIX = RESERVED_PREFIX
MAX_NAME = 253
MAX_REFS = 2 * (MAX_MANIFESTS + 1)
"""An inventory holds at most two revisions' objects (the old and the new while one
replaces the other), each the manifests and the Namespace render adds."""
_HASH = 10

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")


def inventory_name(assignment: str) -> str:
    """``edgeplane-inventory-<assignment>``, cut to 253 characters with a hash of the
    whole name when the assignment's name is long."""
    name = f"{PREFIX}{assignment}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(assignment.encode()).hexdigest()[:_HASH]
    return f"{name[: MAX_NAME - _HASH - 1].rstrip('.-')}-{digest}"


def inventory_ref(assignment: str, namespace: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", namespace, inventory_name(assignment))


def assignment_labels(assignment: str) -> dict[str, str]:
    """The labels the inventory carries (and that every object of the assignment carries)."""
    return {ASSIGNMENT_LABEL: label_value(assignment, "assignment"), MANAGED_BY_LABEL: MANAGED_BY}


async def read_refs(client: KubeClient, assignment: str, namespace: str) -> list[ObjectRef]:
    """The refs in the inventory; [] when there is none. Entries that do not parse are
    left out (and logged): pruning deletes only what carries the assignment's label,
    so a damaged inventory can lose track of an object but never delete another's."""
    return _refs_of(await client.get(inventory_ref(assignment, namespace)))


async def namespace_in_use(client: KubeClient, namespace: str, assignment: str) -> bool:
    """Whether another assignment's inventory keeps objects in ``namespace``: one kept
    there, or one anywhere that lists the Namespace or an object in it (a namespace
    Policies allow to several applications holds none of their inventories). Read
    only before a Namespace is deleted: it lists every inventory of the cluster."""
    own = inventory_name(assignment)
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    async for page in client.pages("v1", "ConfigMap", None, selector):
        for config_map in page:
            if not is_inventory(config_map) or config_map["metadata"]["name"] == own:
                continue
            if config_map["metadata"].get("namespace") == namespace:
                return True
            if any(_in(ref, namespace) for ref in _refs_of(config_map)):
                return True
    return False


def _in(ref: ObjectRef, namespace: str) -> bool:
    return ref.namespace == namespace or (ref.kind == "Namespace" and ref.name == namespace)


def _refs_of(inventory: dict[str, Any] | None) -> list[ObjectRef]:
    data = (inventory or {}).get("data")
    text = data.get("refs") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return []
    try:
        entries = json.loads(text)
    except (ValueError, RecursionError):  # anyone who may write the namespace may write it
        name = ((inventory or {}).get("metadata") or {}).get("name")
        log.warning("inventory %s: refs is not JSON", name)
        return []
    refs = map(_ref, entries[:MAX_REFS] if isinstance(entries, list) else [])
    return [ref for ref in refs if ref is not None]


async def write_refs(
    client: KubeClient,
    refs: Iterable[ObjectRef],
    *,
    assignment: str,
    namespace: str,
    field_manager: str,
) -> None:
    """Replace the inventory's refs (forced: the inventory is only ever the agent's)."""
    ordered = sorted(set(refs), key=_sort_key)[:MAX_REFS]
    encoded = json.dumps([_entry(ref) for ref in ordered], separators=(",", ":"))
    ref = inventory_ref(assignment, namespace)
    metadata = {"name": ref.name, "namespace": namespace, "labels": assignment_labels(assignment)}
    inventory = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    inventory["data"] = {"refs": encoded}
    await client.apply(inventory, field_manager=field_manager, force=True)


def is_inventory(obj: dict[str, Any]) -> bool:
    name = (obj.get("metadata") or {}).get("name")
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (
        isinstance(name, str)
        and name.startswith(PREFIX)
        and labels.get(MANAGED_BY_LABEL) == MANAGED_BY
    )


def _sort_key(ref: ObjectRef) -> tuple[str, str, str, str]:
    return ref.api_version, ref.kind, ref.namespace or "", ref.name


def _entry(ref: ObjectRef) -> dict[str, str]:
    entry = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        entry["namespace"] = ref.namespace
    return entry


def _ref(entry: Any) -> ObjectRef | None:
    if not isinstance(entry, dict):
        return None
    fields = (entry.get(k) for k in ("apiVersion", "kind", "namespace", "name"))
    api_version, kind, namespace, name = fields
    if not all(isinstance(v, str) and 0 < len(v) <= 253 for v in (api_version, kind, name)):
        return None
    if namespace is not None and not (isinstance(namespace, str) and 0 < len(namespace) <= 63):
        return None
    return ObjectRef(str(api_version), str(kind), namespace, str(name))
