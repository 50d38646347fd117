"""Wire data: the JSON shape of objects as they travel, as TypedDicts.

Belongs here: the ``Object``/``Meta`` family every layer passes around once a body has
been validated (the store, the hub's handlers, the client, the CLI, the agent, the
simulator). Not here: validation (``validation``, pydantic) or any behaviour. This
module imports neither pydantic nor anything else of edgeplane, so the agent (which
must stay small) imports it too.

Only the envelope is typed: ``spec`` and ``status`` differ per kind and stay mappings
of JSON values; the validated per-kind views are the pydantic models in ``resources``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Json = Any
"""A JSON value (``None``, bool, number, string, list or mapping of JSON values)."""


class Meta(TypedDict, total=False):
    """``metadata``: what every object carries (Kubernetes' ObjectMeta, the part used)."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str


class Object(TypedDict, total=False):
    """One object on the wire: the envelope typed, ``spec`` and ``status`` per kind."""

    apiVersion: str
    kind: str
    metadata: Meta
    spec: dict[str, Json]
    status: dict[str, Json]


class ListMeta(TypedDict, total=False):
    resourceVersion: str
    # ``continue`` is a keyword: read it as ``meta.get("continue")``.


class ListObject(TypedDict, total=False):
    """A page of a list (``kind: <Kind>List``); ``metadata.continue`` pages on."""

    apiVersion: str
    kind: str
    metadata: ListMeta
    items: list[Object]


class Status(TypedDict, total=False):
    """An error as the hub sends it: the body of a refused request (``reason``,
    ``message``, ``field``), and the object of a watch's ERROR line (with ``code``)."""

    code: int
    reason: str
    message: str
    field: str | None


EventKind = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class WatchEvent(TypedDict):
    """One line of a watch: what happened, and the object after it (for ERROR, a
    Status object; for BOOKMARK, only ``metadata.resourceVersion``)."""

    type: EventKind
    object: Object
