"""Which objects an assignment may take, and which it may ever delete.

Labels alone prove nothing: server-side apply puts the assignment's labels on whatever
object a manifest names, so a manifest naming an existing object (the Namespace
``default``, another application's Deployment) would have it labelled as ours and,
at the next prune or removal, deleted. So, before an apply, each object is read:

* an object that exists and is not labelled as this assignment's is refused: another
  assignment's (two would relabel it in turn, and the last one removed would delete
  it), or one edgeplane did not make (``kube-system``'s ConfigMaps, the ClusterRole
  ``cluster-admin``: taking it over, with ``force``, would rewrite it). Whoever owns
  it hands it over by labelling it ``edgeplane.io/assignment=<assignment>``.
  Namespaces are the exception: shared by design (``apply`` keeps one while another
  assignment keeps an inventory in it), and only those the assignment was given
  (its namespace, the Policies' allowedNamespaces: ``render`` checks);
* an object that does not exist yet is created with the annotation ``CREATED``;
  one that exists keeps the value it has, or gets none. A manifest's own value is
  never sent: it could claim an object it did not create.

``apply`` deletes (prunes, removes) only objects that carry ``CREATED`` besides the
assignment's label: the agent never deletes what it did not create.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import KubeClient, ObjectRef
from edgeplane.agent.runtimes.kubernetes.render import (
    ASSIGNMENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    label_value,
)

CREATED = "edgeplane.io/created-by"
"""Set only when the agent's apply created the object: the assignment that did."""


async def claim(
    client: KubeClient, objects: Sequence[Mapping[str, Any]], assignment: str
) -> tuple[list[dict[str, Any]], set[ObjectRef], str | None]:
    """The objects to send (``CREATED`` set, kept or dropped), the refs that do not
    exist yet, and why the set may not be applied (an object not this assignment's)."""
    ours = label_value(assignment, "assignment")
    out: list[dict[str, Any]] = []
    missing: set[ObjectRef] = set()
    for obj in objects:
        ref = ObjectRef.of(obj)
        stored = await client.get(ref)
        if stored is None:
            missing.add(ref)
        elif problem := _not_ours(ref, stored, ours):
            return [], set(), problem
        out.append(_annotated(obj, ours if stored is None else _created(stored)))
    return out, missing, None


def created(stored: Mapping[str, Any] | None) -> bool:
    """Whether the agent created ``stored`` (and so may delete it)."""
    return bool(_created(stored))


def _created(stored: Mapping[str, Any] | None) -> str | None:
    annotations = ((stored or {}).get("metadata") or {}).get("annotations")
    value = annotations.get(CREATED) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) and value else None


def _not_ours(ref: ObjectRef, stored: Mapping[str, Any], ours: str) -> str | None:
    """Why the existing ``stored`` may not be applied by assignment ``ours``, or None."""
    if ref.kind == "Namespace" and ref.api_version == "v1":
        return None
    labels = (stored.get("metadata") or {}).get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    owner = labels.get(ASSIGNMENT_LABEL)
    if owner == ours:
        return None
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and owner is not None:
        return (
            f"{ref.label()} belongs to assignment {str(owner)[:80]!r}: two applications "
            "cannot apply one object; rename it in one of them"
        )
    return (
        f"{ref.label()} exists and edgeplane did not create it: rename it, or have its "
        f"owner hand it over by labelling it {ASSIGNMENT_LABEL}={ours}"
    )


def _annotated(obj: Mapping[str, Any], value: str | None) -> dict[str, Any]:
    """A copy of ``obj`` whose ``CREATED`` annotation is ``value`` (absent for None)."""
    metadata = dict(obj["metadata"])
    annotations = metadata.get("annotations")
    if annotations is not None and not isinstance(annotations, Mapping):
        return {**obj, "metadata": metadata}  # the apiserver refuses it, naming the field
    kept = {k: v for k, v in (annotations or {}).items() if k != CREATED}
    if value is not None:
        kept[CREATED] = value
    if kept or annotations is not None:
        metadata["annotations"] = kept
    return {**obj, "metadata": metadata}
