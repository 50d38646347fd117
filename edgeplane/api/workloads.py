"""What runs: the workload template and resource requests shared by Application and
Assignment.

A workload is exactly one of ``process`` (a supervised OS process, for hosts without
Kubernetes) or ``kubernetes`` (ordinary manifests, server-side applied at the site;
its model lives in ``kubernetes``).
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from edgeplane.api import confinement
from edgeplane.api.artifacts.names import ARTIFACT_NAME, ARTIFACT_VERSION
from edgeplane.api.kubernetes import KubernetesWorkload as KubernetesWorkload
from edgeplane.api.meta import (
    INT32_MAX,
    Flag,
    Model,
    Number,
    ObjectName,
    PortNumber,
    PositiveCount,
)
from edgeplane.api.quantity import QuantityField
from edgeplane.api.secretkeys import secret_env_name as secret_env_name

Seconds = Annotated[Number, Field(ge=0, le=INT32_MAX)]
"""A duration in seconds, from 0 to 2147483647 (int32, as Kubernetes' seconds fields)."""

PositiveSeconds = Annotated[Number, Field(gt=0, le=INT32_MAX)]


ENV_NAME_MAX_CHARS = 256
PORT_NAME_MAX_CHARS = 15
ARTIFACT_NAME_MAX_CHARS = 63
ARTIFACT_VERSION_MAX_CHARS = 128

# Fully matched (``fullmatch``), ASCII classes only: a name with a final "\n" or a
# unicode digit is not the name it looks like.
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _port_name(name: str) -> str:
    if len(name) > PORT_NAME_MAX_CHARS or not _PORT_NAME.fullmatch(name):
        raise ValueError(
            f"invalid port name {name!r}: at most {PORT_NAME_MAX_CHARS} lower case "
            "alphanumeric characters or '-', starting and ending with an alphanumeric "
            "(e.g. 'http')"
        )
    return name


def _artifact_name(name: str) -> str:
    if not ARTIFACT_NAME.fullmatch(name):  # the rule uploads are held to
        raise ValueError(
            f"invalid artifact name {name!r}: at most {ARTIFACT_NAME_MAX_CHARS} lower case "
            "alphanumeric characters or '-', starting and ending with an alphanumeric "
            "(e.g. 'shelf-vision')"
        )
    return name


def _artifact_version(version: str) -> str:
    if not ARTIFACT_VERSION.fullmatch(version):
        raise ValueError(
            f"invalid artifact version {version!r}: at most {ARTIFACT_VERSION_MAX_CHARS} "
            "letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
            "(e.g. '1.4.2')"
        )
    return version


def _sha256(digest: str) -> str:
    if not _SHA256.fullmatch(digest):
        raise ValueError(f"invalid sha256 {digest[:80]!r}: write 64 lower case hex digits")
    return digest


def _executable(text: str) -> str:
    if "\x00" in text:
        raise ValueError(
            "holds a NUL character, which exec cannot pass to a program: remove it "
            "(the site would only fail to start it)"
        )
    return text


Executable = Annotated[str, AfterValidator(_executable)]
"""Text given to ``exec`` (the command, an argument, an env value, the working
directory): anything but NUL."""

PortName = Annotated[str, AfterValidator(_port_name)]
ArtifactName = Annotated[str, AfterValidator(_artifact_name)]
"""The name an artifact was uploaded under: a DNS-1123 label."""
ArtifactVersion = Annotated[str, AfterValidator(_artifact_version)]
Sha256 = Annotated[str, AfterValidator(_sha256)]


class Resources(Model):
    cpu: QuantityField | None = None
    memory: QuantityField | None = None


class RestartPolicy(enum.StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


PortRef = PortNumber | PortName
"""A port number, or the name of one of the workload's ``ports``."""


def _probe_host(host: str | None) -> str | None:
    if problem := confinement.probe_host_problem(host):
        raise ValueError(problem)
    return host


def _probe_path(path: str) -> str:
    if problem := confinement.probe_path_problem(path):
        raise ValueError(problem)
    return path


ProbeHost = Annotated[str | None, AfterValidator(_probe_host)]
"""Loopback only: a probe checks the workload itself (see ``confinement``)."""


class HttpProbe(Model):
    """Healthy when ``GET http://127.0.0.1:<port><path>`` answers 2xx or 3xx."""

    path: Annotated[str, AfterValidator(_probe_path)] = "/"
    port: PortRef
    host: ProbeHost = None


class TcpProbe(Model):
    """Healthy when a TCP connection to the port opens."""

    port: PortRef
    host: ProbeHost = None


class ExecProbe(Model):
    """Healthy when the command exits 0."""

    command: list[Executable] = Field(min_length=1)


class HealthCheck(Model):
    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    exec: ExecProbe | None = None
    period_seconds: PositiveSeconds | None = Field(default=None, alias="periodSeconds")
    timeout_seconds: PositiveSeconds | None = Field(default=None, alias="timeoutSeconds")
    failure_threshold: PositiveCount | None = Field(default=None, alias="failureThreshold")

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheck:
        if sum(p is not None for p in (self.http, self.tcp, self.exec)) != 1:
            raise ValueError("set exactly one of http, tcp or exec")
        return self


_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def _env_name(name: str) -> str:
    if len(name) > ENV_NAME_MAX_CHARS or not _ENV_NAME.fullmatch(name):
        raise ValueError(
            f"invalid environment variable name {name!r}: use letters, digits, '_', '-' "
            "or '.', not starting with a digit (e.g. 'MY_VAR')"
        )
    return name


EnvName = Annotated[str, AfterValidator(_env_name)]


class EnvVar(Model):
    name: EnvName
    value: Executable = ""


class Port(Model):
    """A port the workload listens on. Without ``port`` the agent picks a free one and
    passes it in ``$PORT_<NAME>`` (and ``$PORT`` for the first port)."""

    name: PortName | None = None
    port: PortNumber | None = None
    protocol: Literal["TCP", "UDP"] | None = None


class Artifact(Model):
    name: ArtifactName
    version: ArtifactVersion
    sha256: Sha256 | None = None


MAX_SECRET_USES = 16
_ENV_PREFIX = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)?", re.ASCII)


def _env_prefix(prefix: str) -> str:
    if len(prefix) > 64 or not _ENV_PREFIX.fullmatch(prefix):
        raise ValueError(
            f"invalid envPrefix {prefix[:80]!r}: at most 64 letters, digits or '_', not "
            "starting with a digit (e.g. 'DB_'), or empty"
        )
    return prefix


class SecretUse(Model):
    """A Secret the workload is given, fetched by its site from the hub: each key as an
    environment variable (``env``: ``envPrefix`` and the key, ``secret_env_name``),
    and/or as a file ``$EDGEPLANE_SECRETS_DIR/<name>/<key>`` (``files``)."""

    name: ObjectName
    env: Flag = False
    env_prefix: Annotated[str, AfterValidator(_env_prefix)] = Field(default="", alias="envPrefix")
    files: Flag = False

    @model_validator(mode="after")
    def _given_somehow(self) -> SecretUse:
        if not (self.env or self.files):
            raise ValueError(f"Secret {self.name!r}: set env: true, files: true, or both")
        return self


def _secret_uses(uses: list[SecretUse] | None) -> list[SecretUse] | None:
    names = [u.name for u in uses or ()]
    if len(set(names)) != len(names):
        raise ValueError("names a Secret twice: give each Secret once")
    return uses


def _account(what: str) -> AfterValidator:
    def check(name: str) -> str:
        if problem := confinement.account_problem(what, name):
            raise ValueError(problem)
        return name

    return AfterValidator(check)


class RunAs(Model):
    """The account a process workload runs as (the agent must run as root to switch);
    without ``group``, the user's own primary group."""

    user: Annotated[str, _account("user")]
    group: Annotated[str, _account("group")] | None = None  # the check is for names, not null


class ProcessWorkload(Model):
    command: Executable = Field(min_length=1)
    args: list[Executable] | None = None
    env: list[EnvVar] | dict[EnvName, Executable] | None = None
    working_dir: Executable | None = Field(default=None, alias="workingDir")
    ports: list[Port] | None = None
    health_check: HealthCheck | None = Field(default=None, alias="healthCheck")
    restart_policy: RestartPolicy | None = Field(default=None, alias="restartPolicy")
    artifacts: list[Artifact] | None = None
    termination_grace_period_seconds: Seconds | None = Field(
        default=None, alias="terminationGracePeriodSeconds"
    )
    run_as: RunAs | None = Field(default=None, alias="runAs")
    secrets: Annotated[
        list[SecretUse] | None, Field(max_length=MAX_SECRET_USES), AfterValidator(_secret_uses)
    ] = None

    @field_validator("health_check")
    @classmethod
    def _probe_own_port(cls, check: HealthCheck | None, info: ValidationInfo) -> HealthCheck | None:
        if check is None:
            return check
        target = check.http or check.tcp
        if target is None:
            return check
        ports: list[Port] = info.data.get("ports") or []
        problem = confinement.probe_port_problem(
            target.port,
            (p.name for p in ports if p.name),
            (p.port for p in ports if p.port is not None),
        )
        if problem:
            raise ValueError(f"{'http' if check.http else 'tcp'}.port: {problem}")
        return check

    def environment(self) -> dict[str, str]:
        """The environment as one mapping, whichever spelling the user chose."""
        if isinstance(self.env, dict):
            return dict(self.env)
        return {var.name: var.value for var in self.env or ()}


class Workload(Model):
    process: ProcessWorkload | None = None
    kubernetes: KubernetesWorkload | None = None

    @property
    def runtime(self) -> str:
        """The runtime that runs it: ``kubernetes`` or ``process``."""
        return "kubernetes" if self.kubernetes is not None else "process"

    @model_validator(mode="after")
    def _exactly_one(self) -> Workload:
        if (self.process is None) == (self.kubernetes is None):
            raise ValueError("set exactly one of workload.process or workload.kubernetes")
        return self
