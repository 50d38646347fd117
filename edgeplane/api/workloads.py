"""What runs: the workload template and resource requests shared by Application and
Assignment.

A workload is exactly one of ``process`` (a supervised OS process, for hosts without
Kubernetes) or ``kubernetes`` (ordinary manifests, server-side applied at the site).
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from edgeplane.api.meta import Model, Number
from edgeplane.api.quantity import QuantityField

Seconds = Annotated[Number, Field(ge=0)]
"""A duration in seconds, 0 or more."""

PositiveSeconds = Annotated[Number, Field(gt=0)]


class Resources(Model):
    cpu: QuantityField | None = None
    memory: QuantityField | None = None


class RestartPolicy(enum.StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


class HealthCheck(Model):
    http: dict[str, Any] | None = None
    tcp: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    period_seconds: PositiveSeconds | None = Field(default=None, alias="periodSeconds")
    timeout_seconds: PositiveSeconds | None = Field(default=None, alias="timeoutSeconds")
    failure_threshold: int | None = Field(default=None, ge=1, alias="failureThreshold")

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheck:
        if sum(p is not None for p in (self.http, self.tcp, self.exec)) != 1:
            raise ValueError("set exactly one of http, tcp or exec")
        return self


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ValueError(
            f"invalid environment variable name {name!r}: use letters, digits, '_', '-' "
            "or '.', not starting with a digit (e.g. 'MY_VAR')"
        )
    return name


EnvName = Annotated[str, AfterValidator(_env_name)]


class EnvVar(Model):
    name: EnvName
    value: str = ""


class Port(Model):
    name: str | None = None
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] | None = None


class Artifact(Model):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")


class ProcessWorkload(Model):
    command: str = Field(min_length=1)
    args: list[str] | None = None
    env: list[EnvVar] | dict[EnvName, str] | None = None
    working_dir: str | None = Field(default=None, alias="workingDir")
    ports: list[Port] | None = None
    health_check: HealthCheck | None = Field(default=None, alias="healthCheck")
    restart_policy: RestartPolicy | None = Field(default=None, alias="restartPolicy")
    artifacts: list[Artifact] | None = None

    def environment(self) -> dict[str, str]:
        """The environment as one mapping, whichever spelling the user chose."""
        if isinstance(self.env, dict):
            return dict(self.env)
        return {var.name: var.value for var in self.env or ()}


class KubernetesWorkload(Model):
    manifests: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("manifests")
    @classmethod
    def _check_manifests(cls, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, manifest in enumerate(manifests):
            missing = [k for k in ("apiVersion", "kind") if not manifest.get(k)]
            metadata = manifest.get("metadata")
            if not (isinstance(metadata, dict) and metadata.get("name")):
                missing.append("metadata.name")
            if missing:
                raise ValueError(f"manifests[{i}] needs {', '.join(missing)}")
        return manifests


class Workload(Model):
    process: ProcessWorkload | None = None
    kubernetes: KubernetesWorkload | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Workload:
        if (self.process is None) == (self.kubernetes is None):
            raise ValueError("set exactly one of workload.process or workload.kubernetes")
        return self
