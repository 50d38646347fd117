"""Object metadata, the strict base model, and the checked types models share.

``LabelKey``, ``LabelValue`` and ``ObjectName`` carry the Kubernetes rules of
``labels.py`` into pydantic, so an error in a map points at the offending key
(``metadata.labels[bad key]``) rather than at the whole map.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from edgeplane.api.labels import check_dns1123_subdomain, check_label_key, check_label_value


class Model(BaseModel):
    """Strict wire model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


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
    float, Field(allow_inf_nan=False), PlainSerializer(_compact, return_type=int | float)
]
"""A finite number that goes back on the wire as written: ``10`` stays ``10``, not ``10.0``."""


class ObjectMeta(Model):
    name: ObjectName
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    annotations: dict[AnnotationKey, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = Field(default=None, ge=0)
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")

    @field_validator("resource_version")
    @classmethod
    def _check_resource_version(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not value.isdigit():
            raise ValueError(
                f"resourceVersion {value!r} is not a number: send the value the hub returned"
            )
        return value or None


class Condition(Model):
    type: str = Field(min_length=1)
    status: str = Field(pattern="^(True|False|Unknown)$")
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")


API_VERSION = "edgeplane.io/v1alpha1"


class Resource(Model):
    """The envelope every kind shares; each kind narrows ``kind``, ``spec`` and ``status``."""

    api_version: Literal["edgeplane.io/v1alpha1"] = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    spec: Model
    status: Model | None = None
