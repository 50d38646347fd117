"""Where things run: ``Site`` (a location and its runtime) and ``SiteGroup`` (a named
label selector over sites, the unit that placement, rollouts and policies talk about).

Operators write the spec; the site's agent and the health controller write the status.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field

from edgeplane.api.meta import Condition, LabelKey, LabelValue, Model, Number, Resource
from edgeplane.api.quantity import QuantityField
from edgeplane.api.selectors import LabelSelector
from edgeplane.api.workloads import Resources


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(Model):
    key: LabelKey
    value: LabelValue | None = None
    effect: TaintEffect


class Location(Model):
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)


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

    @property
    def effective_runtime(self) -> RuntimeKind:
        """The runtime, ``process`` when unset."""
        return self.runtime or RuntimeKind.PROCESS


class SitePhase(enum.StrEnum):
    PENDING = "Pending"
    ONLINE = "Online"
    OFFLINE = "Offline"
    CORDONED = "Cordoned"


class Accelerator(Model):
    type: str = Field(min_length=1)
    vendor: str | None = None
    model: str | None = None
    count: int | None = Field(default=None, ge=1)
    memory: QuantityField | None = None


class SiteDevice(Model):
    """A device found at the site, as summarised in its status."""

    name: str = Field(min_length=1)
    labels: dict[LabelKey, LabelValue] | None = None
    protocol: str | None = None
    address: str | None = None
    count: int | None = Field(default=None, ge=1)


class Inventory(Model):
    arch: str | None = None
    os: str | None = None
    cpus: int | None = Field(default=None, ge=0)
    memory: QuantityField | None = None
    hostname: str | None = None
    runtime: RuntimeKind | None = None
    kubernetes_version: str | None = Field(default=None, alias="kubernetesVersion")
    nodes: int | None = Field(default=None, ge=0)
    accelerators: list[Accelerator] | None = None


class WorkloadCounts(Model):
    """How many assignments the site's agent holds, runs and has ready."""

    assigned: int = Field(default=0, ge=0)
    running: int = Field(default=0, ge=0)
    ready: int = Field(default=0, ge=0)


class SiteStatus(Model):
    phase: SitePhase | None = None
    agent_version: str | None = Field(default=None, alias="agentVersion")
    address: str | None = None
    last_heartbeat: str | None = Field(default=None, alias="lastHeartbeat")
    capacity: Resources | None = None
    allocatable: Resources | None = None
    inventory: Inventory | None = None
    devices: list[SiteDevice] | None = None
    workloads: WorkloadCounts | None = None
    conditions: list[Condition] | None = None


class Site(Resource):
    kind: Literal["Site"] = "Site"
    spec: SiteSpec = Field(default_factory=SiteSpec)
    status: SiteStatus | None = None


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
