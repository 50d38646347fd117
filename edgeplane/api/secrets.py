"""``Secret``: values a workload needs and nobody may read back. What the API holds and
shows is only this: the keys' names, a version that moves with every write, and the id
of the sealed row (``store.protocol.SealedValues``), written by the hub's own routes
(``hub.secrets``) from a manifest's ``stringData`` or ``data``, never by hand. ``apply``
always writes a Secret (its values cannot be compared with what is stored).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from edgeplane.api.meta import Model, PositiveCount, Resource
from edgeplane.api.secretkeys import MAX_KEYS as MAX_KEYS
from edgeplane.api.secretkeys import MAX_TOTAL_BYTES as MAX_TOTAL_BYTES
from edgeplane.api.secretkeys import MAX_VALUE_BYTES as MAX_VALUE_BYTES
from edgeplane.api.secretkeys import check_secret_key as check_secret_key

_SEALED_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)


def _key(key: str) -> str:
    if problem := check_secret_key(key):
        raise ValueError(f"key {key[:80]!r} {problem}")
    return key


def _sealed(value: str) -> str:
    if not _SEALED_ID.fullmatch(value):
        raise ValueError("sealed is the hub's id of the sealed values: 32 lower case hex digits")
    return value


SecretKey = Annotated[str, AfterValidator(_key)]


class SecretSpec(Model):
    keys: Annotated[list[SecretKey], Field(max_length=MAX_KEYS)]
    version: PositiveCount
    sealed: Annotated[str, AfterValidator(_sealed)]


class Secret(Resource):
    """As stored and shown: ``spec`` only. As written: ``stringData`` and ``data``
    only, which the hub seals and never stores in the object."""

    kind: Literal["Secret"] = "Secret"
    spec: SecretSpec | None = None  # type: ignore[assignment]  # absent as written
    string_data: Annotated[dict[SecretKey, str], Field(max_length=MAX_KEYS)] | None = Field(
        default=None, alias="stringData"
    )
    data: Annotated[dict[SecretKey, str], Field(max_length=MAX_KEYS)] | None = None
    status: None = None
