"""Object metadata, the strict base model, and the checked types models share.

``LabelKey``, ``LabelValue`` and ``ObjectName`` carry the Kubernetes rules of
``labels.py`` into pydantic, so an error in a map points at the offending key
(``metadata.labels[bad key]``) rather than at the whole map.

Numbers and flags are strict (``"3"``, ``true`` and ``3.5`` are not a count) and
bounded like Kubernetes' int32 fields; free text is bounded in length, and short
machine-written strings (reasons, phases, addresses) refuse control characters. The
limits are constants here so docs and tests name the same numbers.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    field_validator,
)

from edgeplane.api.labels import check_dns1123_subdomain, check_label_key, check_label_value

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
RESOURCE_VERSION_MAX_DIGITS = 20
MESSAGE_MAX_CHARS = 32 * 1024
"""A status or condition message, as Kubernetes bounds ``Condition.message``."""
REASON_MAX_CHARS = 1024
SHORT_TEXT_MAX_CHARS = 256
"""Phases, versions, inventory strings, timestamps, names inside a status."""
ADDRESS_MAX_CHARS = 2048
CONDITIONS_MAX = 100
LABELS_MAX = 256
ANNOTATIONS_MAX_BYTES = 256 * 1024
"""All of an object's annotation keys and values together, as in Kubernetes."""

Int32 = Annotated[int, Strict(), Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
"""A whole number in int32 range; not a string, a bool or a float."""
Count = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
"""A whole number from 0 to 2147483647."""
PositiveCount = Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)]
"""A whole number from 1 to 2147483647."""
Generation = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
"""A generation counter (int64 in Kubernetes)."""
PortNumber = Annotated[int, Strict(), Field(ge=1, le=65535)]
Flag = Annotated[bool, Strict()]
"""``true`` or ``false``; not ``"yes"``, ``1`` or ``"true"``."""


class Model(BaseModel):
    """Strict wire model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def no_controls(value: str) -> str:
    # Category Cc (C0, DEL, C1) and the bidi/format marks that reorder a terminal line.
    if found := _CONTROL.search(value):
        raise ValueError(
            f"contains the control character {found.group()!r}: remove it "
            "(use printable characters only)"
        )
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

ShortText = Annotated[str, Field(max_length=SHORT_TEXT_MAX_CHARS), AfterValidator(no_controls)]
"""A short machine-written string: at most 256 characters, no control characters."""
RequiredText = Annotated[
    str, Field(min_length=1, max_length=SHORT_TEXT_MAX_CHARS), AfterValidator(no_controls)
]
"""``ShortText`` that must not be empty."""
Reason = Annotated[
    str, Field(min_length=1, max_length=REASON_MAX_CHARS), AfterValidator(no_controls)
]
Address = Annotated[str, Field(max_length=ADDRESS_MAX_CHARS), AfterValidator(no_controls)]
"""A host, host:port or URL: at most 2048 characters, no control characters."""
RequiredAddress = Annotated[
    str, Field(min_length=1, max_length=ADDRESS_MAX_CHARS), AfterValidator(no_controls)
]
Message = Annotated[str, Field(max_length=MESSAGE_MAX_CHARS)]
"""Free text for people, at most 32 KiB. Control characters are kept (a probe's or a
workload's words may hold them, and refusing them would lose the status): the CLI
escapes them on output."""


def _label_key(key: str) -> str:
    if problem := check_label_key(key):
        raise ValueError(f"invalid label key {key!r}: {problem}")
    return key


def _label_value(value: str) -> str:
    if problem := check_label_value(value):
        raise ValueError(f"invalid label value {value!r}: {problem}")
    return value


def _annotation_key(key: str) -> str:
    if problem := check_label_key(key):
        raise ValueError(f"invalid annotation key {key!r}: {problem}")
    return key


def _object_name(name: str) -> str:
    if problem := check_dns1123_subdomain(name):
        raise ValueError(f"invalid name {name!r}: {problem}")
    return name


LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
AnnotationKey = Annotated[str, AfterValidator(_annotation_key)]
ObjectName = Annotated[str, AfterValidator(_object_name)]
"""The name of an edgeplane object, or a reference to one: a DNS-1123 subdomain."""


def _compact(value: float) -> int | float:
    return int(value) if value.is_integer() else value


Number = Annotated[
    float,
    Strict(),
    Field(allow_inf_nan=False),
    PlainSerializer(_compact, return_type=int | float),
]
"""A finite number that goes back on the wire as written: ``10`` stays ``10``, not ``10.0``."""


class ObjectMeta(Model):
    name: ObjectName
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=LABELS_MAX)
    annotations: dict[AnnotationKey, str] = Field(default_factory=dict)
    uid: ShortText | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: Generation | None = None
    creation_timestamp: ShortText | None = Field(default=None, alias="creationTimestamp")

    @field_validator("resource_version")
    @classmethod
    def _check_resource_version(cls, value: str | None) -> str | None:
        if value is not None and (problem := check_resource_version(value)):
            raise ValueError(problem)
        return value or None

    @field_validator("annotations")
    @classmethod
    def _annotations_size(cls, annotations: dict[str, str]) -> dict[str, str]:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
        if size > ANNOTATIONS_MAX_BYTES:
            raise ValueError(
                f"annotations total {size} bytes, over the limit of {ANNOTATIONS_MAX_BYTES}: "
                "keep large data out of annotations"
            )
        return annotations


_RESOURCE_VERSION = re.compile(rf"[0-9]{{1,{RESOURCE_VERSION_MAX_DIGITS}}}")


def check_resource_version(value: str) -> str | None:
    """``None`` when ``value`` is empty or a resourceVersion (ASCII digits, at most 20),
    else what to change. ``str.isdigit`` is not enough: it takes '٣' and '²'."""
    if value == "" or _RESOURCE_VERSION.fullmatch(value):
        return None
    return (
        f"resourceVersion {value[:40]!r} is not a resourceVersion (ASCII digits, at most "
        f"{RESOURCE_VERSION_MAX_DIGITS}): send the value the hub returned, or leave it out"
    )


class Condition(Model):
    type: RequiredText
    status: Literal["True", "False", "Unknown"]
    reason: Reason | None = None
    message: Message | None = None
    last_transition_time: ShortText | None = Field(default=None, alias="lastTransitionTime")


Conditions = Annotated[list[Condition], Field(max_length=CONDITIONS_MAX)]
"""A status's conditions: at most 100."""


API_VERSION = "edgeplane.io/v1alpha1"


class Resource(Model):
    """The envelope every kind shares; each kind narrows ``kind``, ``spec`` and ``status``."""

    api_version: Literal["edgeplane.io/v1alpha1"] = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    spec: Model
    status: Model | None = None
