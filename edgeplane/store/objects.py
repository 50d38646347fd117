"""Metadata bookkeeping the store owns: uid, creationTimestamp, resourceVersion, generation.

Pure functions from (stored object, incoming object, new resourceVersion) to the object
to store, shared by every backend so their semantics cannot drift apart.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from typing import Final, Literal

from edgeplane.api.wellknown import SITE_LABEL
from edgeplane.api.wire import Meta, Object
from edgeplane.store.errors import Conflict

OwnedField = Literal["uid", "resourceVersion", "generation", "creationTimestamp"]
OWNED: Final[tuple[OwnedField, ...]] = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(obj: Object) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


def created(obj: Object, rv: int) -> Object:
    """The object as first stored: fresh uid, generation 1, this resourceVersion."""
    new = copy.deepcopy(obj)
    meta = _without_owned(new.get("metadata", {}))
    meta.update(
        Meta(
            uid=str(uuid.uuid4()),
            resourceVersion=str(rv),
            generation=1,
            creationTimestamp=now_rfc3339(),
        )
    )
    new["metadata"] = meta
    return new


def check_version(stored: Object, incoming: Object | str | None) -> None:
    """Raise Conflict when the caller sent a resourceVersion that is not current."""
    given = (
        incoming.get("metadata", {}).get("resourceVersion")
        if isinstance(incoming, dict)
        else incoming
    )
    current = stored["metadata"]["resourceVersion"]
    if given not in (None, "") and str(given) != current:
        kind, name = key_of(stored)
        raise Conflict(kind, name, str(given), current)


def replaced(stored: Object, incoming: Object) -> Object:
    """Metadata and spec from ``incoming``, status and owned metadata from ``stored``.

    The resourceVersion is left as stored; ``stamped`` sets the new one once the
    caller knows the write changes something.
    """
    new = copy.deepcopy(incoming)
    new.pop("status", None)
    meta = _without_owned(new.get("metadata", {}))
    for field in OWNED:
        if field in stored["metadata"]:
            meta[field] = stored["metadata"][field]
    new["metadata"] = meta
    if "status" in stored:
        new["status"] = copy.deepcopy(stored["status"])
    if new.get("spec") != stored.get("spec"):
        meta["generation"] = int(stored["metadata"].get("generation", 0)) + 1
    return new


def _without_owned(meta: Meta) -> Meta:
    """The caller's metadata less the fields the store owns (whatever the caller sent)."""
    kept = meta.copy()
    for field in OWNED:
        kept.pop(field, None)
    return kept


def without_status(obj: Object) -> Object:
    """A shallow copy of ``obj`` without its status (what a spec write sends)."""
    new = obj.copy()
    new.pop("status", None)
    return new


def status_replaced(stored: Object, incoming: Object) -> Object:
    """``stored`` with the status of ``incoming`` (removed when incoming has none)."""
    new = copy.deepcopy(stored)
    if incoming.get("status") is None:
        new.pop("status", None)
    else:
        new["status"] = copy.deepcopy(incoming["status"])
    return new


def stamped(obj: Object, rv: int) -> Object:
    obj["metadata"]["resourceVersion"] = str(rv)
    return obj


def labels_of(obj: Object) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def site_of(obj: Object) -> str | None:
    """The site the object is labelled for (``edgeplane.io/site``), if any."""
    labels = obj.get("metadata", {}).get("labels")
    site = labels.get(SITE_LABEL) if isinstance(labels, dict) else None
    return site if isinstance(site, str) else None


def moved_from(stored: Object, new: Object) -> str | None:
    """The site ``stored`` was labelled for when ``new`` is for another one (or none):
    that site's watchers must hear that the object left."""
    before = site_of(stored)
    return before if before != site_of(new) else None
