"""The resource kinds of DESIGN §2: Site, SiteGroup, Application, Policy, Assignment.

Operators write ``spec``; controllers and agents write ``status``. Optional fields
default to ``None`` so that an object round-trips exactly as it was written.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edgeplane.api.labels import check_dns1123_subdomain, check_label_key
from edgeplane.api.meta import Condition, Model, ObjectMeta
from edgeplane.api.quantity import QuantityField
from edgeplane.api.selectors import LabelSelector

API_VERSION = "edgeplane.io/v1alpha1"


class Resource(Model):
    api_version: Literal["edgeplane.io/v1alpha1"] = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta


# --- shared pieces -------------------------------------------------------------------


class Resources(Model):
    cpu: QuantityField | None = None
    memory: QuantityField | None = None


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(Model):
    key: str
    value: str | None = None
    effect: TaintEffect

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        if problem := check_label_key(key):
            raise ValueError(f"invalid taint key {key!r}: {problem}")
        return key


def _check_name_list(names: list[str], what: str) -> list[str]:
    for name in names:
        if problem := check_dns1123_subdomain(name):
            raise ValueError(f"invalid {what} name {name!r}: {problem}")
    return names


# --- Site ----------------------------------------------------------------------------


class Location(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RuntimeKind(enum.StrEnum):
    PROCESS = "process"
    KUBERNETES = "kubernetes"


class Uplink(Model):
    bandwidth_bytes_per_second: int | None = Field(
        default=None, ge=1, alias="bandwidthBytesPerSecond"
    )
    metered: bool | None = None


class SiteSpec(Model):
    location: Location | None = None
    runtime: RuntimeKind | None = None
    taints: list[Taint] | None = None
    uplink: Uplink | None = None
    unschedulable: bool | None = None


class SitePhase(enum.StrEnum):
    PENDING = "Pending"
    ONLINE = "Online"
    OFFLINE = "Offline"
    CORDONED = "Cordoned"


class Inventory(Model):
    arch: str | None = None
    os: str | None = None
    cpus: int | None = Field(default=None, ge=0)
    memory: QuantityField | None = None
    hostname: str | None = None
    runtime: RuntimeKind | None = None
    kubernetes_version: str | None = Field(default=None, alias="kubernetesVersion")
    nodes: int | None = Field(default=None, ge=0)
    accelerators: list[dict[str, Any]] | None = None


class SiteStatus(Model):
    phase: SitePhase | None = None
    last_heartbeat: str | None = Field(default=None, alias="lastHeartbeat")
    capacity: Resources | None = None
    allocatable: Resources | None = None
    inventory: Inventory | None = None
    devices: list[dict[str, Any]] | None = None
    conditions: list[Condition] | None = None


class Site(Resource):
    kind: Literal["Site"] = "Site"
    spec: SiteSpec = Field(default_factory=SiteSpec)
    status: SiteStatus | None = None


# --- SiteGroup -----------------------------------------------------------------------


class SiteGroupSpec(Model):
    selector: LabelSelector
    description: str | None = None


class SiteGroupStatus(Model):
    sites: int | None = Field(default=None, ge=0)
    conditions: list[Condition] | None = None


class SiteGroup(Resource):
    kind: Literal["SiteGroup"] = "SiteGroup"
    spec: SiteGroupSpec
    status: SiteGroupStatus | None = None


# --- Application ---------------------------------------------------------------------


class RestartPolicy(enum.StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


class HealthCheck(Model):
    http: dict[str, Any] | None = None
    tcp: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    period_seconds: float | None = Field(default=None, gt=0, alias="periodSeconds")
    timeout_seconds: float | None = Field(default=None, gt=0, alias="timeoutSeconds")
    failure_threshold: int | None = Field(default=None, ge=1, alias="failureThreshold")

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheck:
        if sum(p is not None for p in (self.http, self.tcp, self.exec)) != 1:
            raise ValueError("set exactly one of http, tcp or exec")
        return self


class EnvVar(Model):
    name: str = Field(min_length=1)
    value: str = ""


class Port(Model):
    name: str | None = None
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] | None = None


class Artifact(Model):
    name: str
    version: str = Field(min_length=1)
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")


class ProcessWorkload(Model):
    command: str = Field(min_length=1)
    args: list[str] | None = None
    env: list[EnvVar] | dict[str, str] | None = None
    working_dir: str | None = Field(default=None, alias="workingDir")
    ports: list[Port] | None = None
    health_check: HealthCheck | None = Field(default=None, alias="healthCheck")
    restart_policy: RestartPolicy | None = Field(default=None, alias="restartPolicy")
    artifacts: list[Artifact] | None = None


class KubernetesWorkload(Model):
    manifests: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("manifests")
    @classmethod
    def _check_manifests(cls, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, manifest in enumerate(manifests):
            missing = [k for k in ("apiVersion", "kind") if not manifest.get(k)]
            if not (manifest.get("metadata") or {}).get("name"):
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


class DeviceRequirement(Model):
    selector: LabelSelector
    count: int = Field(default=1, ge=1)


class PlacementMode(enum.StrEnum):
    REPLICAS = "Replicas"
    EVERY_SITE = "EverySite"


class SpreadConstraint(Model):
    topology_key: str = Field(alias="topologyKey")
    max_skew: int = Field(default=1, ge=1, alias="maxSkew")


class Placement(Model):
    mode: PlacementMode = PlacementMode.REPLICAS
    replicas: int | None = Field(default=None, ge=0)
    site_groups: list[str] | None = Field(default=None, alias="siteGroups")
    selector: LabelSelector | None = None
    spread: list[SpreadConstraint] | None = None
    priority: int | None = None

    @field_validator("site_groups")
    @classmethod
    def _check_groups(cls, groups: list[str] | None) -> list[str] | None:
        return None if groups is None else _check_name_list(groups, "siteGroup")

    @model_validator(mode="after")
    def _replicas_for_mode(self) -> Placement:
        if self.mode is PlacementMode.REPLICAS and self.replicas is None:
            raise ValueError("mode Replicas needs replicas: set placement.replicas (0 or more)")
        if self.mode is PlacementMode.EVERY_SITE and self.replicas is not None:
            raise ValueError("mode EverySite runs one per site: remove placement.replicas")
        return self


class Failover(Model):
    after_seconds: float | None = Field(default=None, ge=0, alias="afterSeconds")
    failback: bool | None = None


class RolloutGroup(Model):
    name: str
    site_group: str = Field(alias="siteGroup")


class Rollout(Model):
    groups: list[RolloutGroup] | None = None
    max_unavailable: int | str | None = Field(default=None, alias="maxUnavailable")
    min_success_seconds: float | None = Field(default=None, ge=0, alias="minSuccessSeconds")
    auto_rollback: bool | None = Field(default=None, alias="autoRollback")

    @field_validator("max_unavailable")
    @classmethod
    def _check_max_unavailable(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("maxUnavailable must be 0 or more")
        if isinstance(value, str) and not (value.endswith("%") and value[:-1].isdigit()):
            raise ValueError(f"maxUnavailable {value!r}: use a count or a percentage like '10%'")
        if isinstance(value, str) and int(value[:-1]) > 100:
            raise ValueError(f"maxUnavailable {value!r}: a percentage must be at most 100%")
        return value


class Override(Model):
    site: str | None = None
    site_selector: LabelSelector | None = Field(default=None, alias="siteSelector")
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> Override:
        if (self.site is None) == (self.site_selector is None):
            raise ValueError("an override targets exactly one of site or siteSelector")
        return self


class ApplicationSpec(Model):
    workload: Workload
    resources: Resources | None = None
    devices: list[DeviceRequirement] | None = None
    placement: Placement
    failover: Failover | None = None
    rollout: Rollout | None = None
    overrides: list[Override] | None = None


class ApplicationStatus(Model):
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    sites: list[str] | None = None
    ready: int | None = None
    conditions: list[Condition] | None = None


class Application(Resource):
    kind: Literal["Application"] = "Application"
    spec: ApplicationSpec
    status: ApplicationStatus | None = None


# --- Policy --------------------------------------------------------------------------


class PolicyScope(enum.StrEnum):
    ADMISSION = "Admission"
    PLACEMENT = "Placement"


class Enforcement(enum.StrEnum):
    DENY = "Deny"
    WARN = "Warn"
    AUDIT = "Audit"


class OnViolation(enum.StrEnum):
    MOVE = "Move"
    REPORT = "Report"


class PolicyRule(Model):
    name: str = Field(min_length=1)
    expression: str = Field(min_length=1)
    message: str | None = None


class PolicySpec(Model):
    scope: PolicyScope
    enforcement: Enforcement = Enforcement.DENY
    rules: list[PolicyRule] = Field(min_length=1)
    selector: LabelSelector | None = None
    on_violation: OnViolation | None = Field(default=None, alias="onViolation")


class PolicyStatus(Model):
    conditions: list[Condition] | None = None


class Policy(Resource):
    kind: Literal["Policy"] = "Policy"
    spec: PolicySpec
    status: PolicyStatus | None = None


# --- Assignment ----------------------------------------------------------------------


class AssignmentSpec(Model):
    application: str
    revision: int = Field(ge=1)
    site: str
    replicas: int = Field(default=1, ge=0)
    workload: Workload
    resources: Resources | None = None


class AssignmentStatus(Model):
    phase: str | None = None
    ready: int | None = Field(default=None, ge=0)
    message: str | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class Assignment(Resource):
    kind: Literal["Assignment"] = "Assignment"
    spec: AssignmentSpec
    status: AssignmentStatus | None = None
