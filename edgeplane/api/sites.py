"""Where things run: ``Site`` (a location and its runtime) and ``SiteGroup`` (a named
label selector over sites, the unit that placement, rollouts and policies talk about).

Operators write the spec; the site's agent and the health controller write the status.
Maintenance windows, on both, say when a rollout may update a site (their schedules are
parsed by ``schedules``; ``rollout.windows`` tells whether one is open).
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StrictInt, field_validator

from edgeplane.api.datastreams import SiteData
from edgeplane.api.meta import (
    Address,
    Conditions,
    Count,
    Flag,
    Generation,
    LabelKey,
    LabelValue,
    Message,
    Model,
    Number,
    PositiveCount,
    RequiredText,
    Resource,
    ShortText,
)
from edgeplane.api.quantity import QuantityField
from edgeplane.api.schedules import Schedule
from edgeplane.api.selectors import LabelSelector
from edgeplane.api.workloads import Resources

TAINTS_MAX = 64
SITE_DEVICES_MAX = 1024
"""Devices summarised in one Site's status."""
SITE_DEVICE_LABELS_MAX = 64
ACCELERATORS_MAX = 64
ARCHITECTURES_MAX = 16
RETURNS_MAX = 10
WINDOWS_MAX = 16
"""Maintenance windows of one Site or SiteGroup."""
WINDOW_MINUTES_MAX = 7 * 24 * 60
"""A window lasts at most a week: a longer one is always open, so leave windows out."""


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
    # int64: a 10 Gbit/s uplink is already 1.25e9 bytes a second, near int32's end.
    bandwidth_bytes_per_second: Generation | None = Field(
        default=None, ge=1, alias="bandwidthBytesPerSecond"
    )
    burst_bytes: Generation | None = Field(default=None, ge=1, alias="burstBytes")
    """How far past the rate a send may go after the link was idle (a token bucket's
    depth); one second of the rate when unset."""
    metered: Flag | None = None


def _schedule(text: str) -> str:
    Schedule.parse(text)  # its ValueError names the cron field and the fix
    return text


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"timeZone {name!r} is not a known IANA time zone: use a name like "
            "'Europe/Berlin', 'America/New_York' or 'UTC'"
        ) from None
    return name


class MaintenanceWindow(Model):
    """When a rollout may update the site: from each time ``schedule`` (5-field cron)
    names, in ``timeZone`` (UTC when unset), for ``durationMinutes``."""

    schedule: Annotated[ShortText, AfterValidator(_schedule)]
    duration_minutes: StrictInt = Field(ge=1, le=WINDOW_MINUTES_MAX, alias="durationMinutes")
    time_zone: Annotated[ShortText, AfterValidator(_time_zone)] | None = Field(
        default=None, alias="timeZone"
    )


MaintenanceWindows = Annotated[list[MaintenanceWindow], Field(max_length=WINDOWS_MAX)]
"""No window at all: always open. Otherwise a site (with those of every SiteGroup it
matches) is updated only while one of them is open; a rollback ignores them."""


class SiteSpec(Model):
    location: Location | None = None
    runtime: RuntimeKind | None = None
    runtimes: list[RuntimeKind] | None = Field(
        default=None, min_length=1, max_length=len(RuntimeKind)
    )
    """Every runtime the site can run (a host with both); before ``runtime`` when set."""
    taints: list[Taint] | None = Field(default=None, max_length=TAINTS_MAX)
    uplink: Uplink | None = None
    unschedulable: Flag | None = None
    maintenance_windows: MaintenanceWindows | None = Field(default=None, alias="maintenanceWindows")

    @field_validator("runtimes")
    @classmethod
    def _once(cls, runtimes: list[RuntimeKind] | None) -> list[RuntimeKind] | None:
        return _each_once(runtimes)

    @property
    def effective_runtime(self) -> RuntimeKind:
        """The runtime, ``process`` when unset."""
        return self.runtime or RuntimeKind.PROCESS


def _each_once(runtimes: list[RuntimeKind] | None) -> list[RuntimeKind] | None:
    if runtimes and len(set(runtimes)) < len(runtimes):
        raise ValueError("lists a runtime twice: list each once, e.g. [process, kubernetes]")
    return runtimes


class SitePhase(enum.StrEnum):
    PENDING = "Pending"
    ONLINE = "Online"
    OFFLINE = "Offline"
    CORDONED = "Cordoned"


class Accelerator(Model):
    type: RequiredText
    vendor: ShortText | None = None
    model: ShortText | None = None
    count: PositiveCount | None = None
    memory: QuantityField | None = None


class SiteDevice(Model):
    """A device found at the site, as summarised in its status."""

    name: RequiredText
    labels: dict[LabelKey, LabelValue] | None = Field(
        default=None, max_length=SITE_DEVICE_LABELS_MAX
    )
    protocol: ShortText | None = None
    address: Address | None = None
    count: PositiveCount | None = None


class Inventory(Model):
    arch: ShortText | None = None
    os: ShortText | None = None
    cpus: Count | None = None
    memory: QuantityField | None = None
    hostname: ShortText | None = None
    runtime: RuntimeKind | None = None
    """The agent's first runtime (``runtimes[0]``): what agents before ``runtimes`` sent."""
    runtimes: list[RuntimeKind] | None = Field(
        default=None, min_length=1, max_length=len(RuntimeKind)
    )
    """Every runtime the agent runs (``--runtime process,kubernetes``)."""
    kubernetes_version: ShortText | None = Field(default=None, alias="kubernetesVersion")
    nodes: Count | None = None
    ready_nodes: Count | None = Field(default=None, alias="readyNodes")
    """Nodes Ready; with ``nodes`` > 0 and none Ready the hub holds the site Offline."""
    architectures: list[ShortText] | None = Field(default=None, max_length=ARCHITECTURES_MAX)
    node_pool: ShortText | None = Field(default=None, alias="nodePool")
    """The node label selecting the pool this site is (``edgeplane.io/site=pool-a``)."""
    accelerators: list[Accelerator] | None = Field(default=None, max_length=ACCELERATORS_MAX)

    @field_validator("runtimes")
    @classmethod
    def _once(cls, runtimes: list[RuntimeKind] | None) -> list[RuntimeKind] | None:
        return _each_once(runtimes)


class WorkloadCounts(Model):
    """How many assignments the site's agent holds, runs and has ready."""

    assigned: Count = 0
    running: Count = 0
    ready: Count = 0


class SiteStatus(Model):
    phase: SitePhase | None = None
    agent_version: ShortText | None = Field(default=None, alias="agentVersion")
    address: Address | None = None
    last_heartbeat: ShortText | None = Field(default=None, alias="lastHeartbeat")
    capacity: Resources | None = None
    allocatable: Resources | None = None
    inventory: Inventory | None = None
    devices: list[SiteDevice] | None = Field(default=None, max_length=SITE_DEVICES_MAX)
    workloads: WorkloadCounts | None = None
    conditions: Conditions | None = None
    data: SiteData | None = None
    """Its data home (``DataStream`` records waiting and sent), reported by its agent."""
    returns: list[ShortText] | None = Field(default=None, max_length=RETURNS_MAX)
    """When the site last came back after being Offline (RFC 3339, newest last): how
    often it flaps, which lengthens the hold-down before failback."""


class Site(Resource):
    kind: Literal["Site"] = "Site"
    spec: SiteSpec = Field(default_factory=SiteSpec)
    status: SiteStatus | None = None


class GroupHealth(Model):
    """How the hub judges the health of the group's sites (``health.detector``): how
    often they heartbeat and how suspicious a silence must be before a site is declared
    unreachable (phi; 8 when unset). A site in several groups heartbeats at the shortest
    period and is judged at the highest threshold of them."""

    heartbeat_seconds: Number | None = Field(default=None, ge=0.5, le=300, alias="heartbeatSeconds")
    suspicion_threshold: Number | None = Field(
        default=None, ge=1, le=100, alias="suspicionThreshold"
    )


class SiteGroupSpec(Model):
    selector: LabelSelector
    description: Message | None = None
    health: GroupHealth | None = None
    maintenance_windows: MaintenanceWindows | None = Field(default=None, alias="maintenanceWindows")


class SiteGroupStatus(Model):
    sites: Count | None = None
    conditions: Conditions | None = None


class SiteGroup(Resource):
    kind: Literal["SiteGroup"] = "SiteGroup"
    spec: SiteGroupSpec
    status: SiteGroupStatus | None = None
