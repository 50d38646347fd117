"""Object metadata and the strict base model every edgeplane model derives from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeplane.api.labels import check_dns1123_subdomain, check_label_key, check_label_value


class Model(BaseModel):
    """Strict wire model: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ObjectMeta(Model):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = Field(default=None, ge=0)
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if problem := check_dns1123_subdomain(name):
            raise ValueError(f"invalid name {name!r}: {problem}")
        return name

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if problem := check_label_key(key):
                raise ValueError(f"invalid label key {key!r}: {problem}")
            if problem := check_label_value(value):
                raise ValueError(f"invalid value {value!r} for label {key!r}: {problem}")
        return labels

    @field_validator("annotations")
    @classmethod
    def _check_annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        for key in annotations:
            if problem := check_label_key(key):
                raise ValueError(f"invalid annotation key {key!r}: {problem}")
        return annotations

    @field_validator("resource_version")
    @classmethod
    def _check_resource_version(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not value.isdigit():
            raise ValueError(
                f"resourceVersion {value!r} is not a number: send the value the hub returned"
            )
        return value or None


class Condition(Model):
    type: str
    status: str = Field(pattern="^(True|False|Unknown)$")
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")
