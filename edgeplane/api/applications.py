"""``Application``: a workload template with resource requests, device requirements,
placement, failover, rollout strategy and per-site overrides.

Only the shape is checked here; what placement and rollout make of it lives in their
own packages.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edgeplane.api.autoscaling import Autoscaling, AutoscalingStatus
from edgeplane.api.kubernetes import PATCHES_MAX, ManifestPatch
from edgeplane.api.meta import (
    Conditions,
    Count,
    Flag,
    Generation,
    Int32,
    LabelKey,
    Message,
    Model,
    Number,
    ObjectName,
    PositiveCount,
    Reason,
    Resource,
    ShortText,
)
from edgeplane.api.rollouts import Rollout, RolloutStatus
from edgeplane.api.selectors import LabelSelector
from edgeplane.api.workloads import Resources, Seconds, Workload

TaintEffectName = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

MAX_DISTANCE_KM = 40_075.0
"""The Earth's circumference: any farther is a typo."""
MAX_SCORE_WEIGHT = 1_000_000.0
STATUS_SITES_MAX = 100_000
"""Site names in an Application's status (a fleet of EverySite reaches 10,000 sites)."""
STATUS_EVENTS_MAX = 100


def _unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"{what} {item!r} appears twice: list each once")
        seen.add(item)


class DeviceRequirement(Model):
    selector: LabelSelector
    count: PositiveCount = 1
    shared: Flag | None = None
    """Whether instances (of this or other applications) may use the same devices;
    by default each device is one instance's (``placement.binding``)."""


class PlacementMode(enum.StrEnum):
    REPLICAS = "Replicas"
    EVERY_SITE = "EverySite"


class SpreadConstraint(Model):
    """Replicas spread over the values of a site label (region, zone): no value more than
    ``maxSkew`` replicas ahead of another that still has room, using at least
    ``minGroups`` and at most ``maxGroups`` values."""

    topology_key: LabelKey = Field(alias="topologyKey")
    max_skew: PositiveCount = Field(default=1, alias="maxSkew")
    min_groups: PositiveCount | None = Field(default=None, alias="minGroups")
    max_groups: PositiveCount | None = Field(default=None, alias="maxGroups")

    @model_validator(mode="after")
    def _groups_in_order(self) -> SpreadConstraint:
        if self.min_groups and self.max_groups and self.min_groups > self.max_groups:
            raise ValueError(
                f"minGroups {self.min_groups} is more than maxGroups {self.max_groups}: "
                "lower minGroups or raise maxGroups"
            )
        return self


class Division(enum.StrEnum):
    DUPLICATED = "Duplicated"
    DIVIDED = "Divided"


class StaticWeight(Model):
    """Divided replicas go in proportion to ``weight`` to the sites of a SiteGroup or a
    selector (the first entry a site matches counts; sites matching none get none)."""

    site_group: ObjectName | None = Field(default=None, alias="siteGroup")
    selector: LabelSelector | None = None
    weight: Count

    @model_validator(mode="after")
    def _one_target(self) -> StaticWeight:
        if (self.site_group is None) == (self.selector is None):
            raise ValueError("a weight targets exactly one of siteGroup or selector")
        return self


class Point(Model):
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)


class Locality(Model):
    """Prefer sites near a point or near a SiteGroup's sites; with ``maxDistanceKm``,
    sites farther away (or without a location) are not used at all."""

    near: Point | None = None
    site_group: ObjectName | None = Field(default=None, alias="siteGroup")
    max_distance_km: Number | None = Field(
        default=None, gt=0, le=MAX_DISTANCE_KM, alias="maxDistanceKm"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Locality:
        if (self.near is None) == (self.site_group is None):
            raise ValueError("locality needs exactly one of near ({lat, lon}) or siteGroup")
        return self


class Scoring(Model):
    """How much each scorer weighs when choosing among feasible sites."""

    balance: Number | None = Field(default=None, ge=0, le=MAX_SCORE_WEIGHT)
    locality: Number | None = Field(default=None, ge=0, le=MAX_SCORE_WEIGHT)
    stickiness: Number | None = Field(default=None, ge=0, le=MAX_SCORE_WEIGHT)


class TolerationOperator(enum.StrEnum):
    EQUAL = "Equal"
    EXISTS = "Exists"


class Toleration(Model):
    """Lets an application run at sites with a matching taint, as in Kubernetes: no
    ``key`` with ``Exists`` tolerates every taint; no ``effect`` tolerates every effect."""

    key: LabelKey | None = None
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: ShortText | None = None
    effect: TaintEffectName | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator is TolerationOperator.EXISTS and self.value:
            raise ValueError("operator Exists takes no value: remove value, or use Equal")
        if self.operator is TolerationOperator.EQUAL and self.key is None:
            raise ValueError("operator Equal needs a key (or use Exists to tolerate all)")
        return self


class Placement(Model):
    mode: PlacementMode = PlacementMode.REPLICAS
    replicas: Count | None = None
    site_groups: list[ObjectName] | None = Field(default=None, alias="siteGroups")
    selector: LabelSelector | None = None
    spread: list[SpreadConstraint] | None = None
    priority: Int32 | None = None
    tolerations: list[Toleration] | None = None
    division: Division | None = None
    weights: list[StaticWeight] | None = None
    locality: Locality | None = None
    scoring: Scoring | None = None
    max_per_site: PositiveCount | None = Field(default=None, alias="maxPerSite")
    """Divided only: at most this many replicas at one site; the rest goes elsewhere
    or stays unplaced."""

    @field_validator("site_groups")
    @classmethod
    def _groups_once(cls, groups: list[str] | None) -> list[str] | None:
        _unique(groups or (), "siteGroup")
        return groups

    @model_validator(mode="after")
    def _replicas_for_mode(self) -> Placement:
        if self.mode is PlacementMode.REPLICAS and self.replicas is None:
            raise ValueError("mode Replicas needs replicas: set placement.replicas (0 or more)")
        if self.mode is PlacementMode.EVERY_SITE and self.replicas is not None:
            raise ValueError("mode EverySite runs one per site: remove placement.replicas")
        if self.mode is PlacementMode.EVERY_SITE and self.division is not None:
            raise ValueError("mode EverySite runs one per site: remove placement.division")
        if self.weights and self.division is not Division.DIVIDED:
            raise ValueError("weights divide replicas: set placement.division: Divided")
        if self.max_per_site is not None and self.mode is PlacementMode.EVERY_SITE:
            raise ValueError(
                "mode EverySite runs one per site: remove placement.maxPerSite "
                "(it caps Replicas with division: Divided)"
            )
        if self.max_per_site is not None and self.division is not Division.DIVIDED:
            raise ValueError(
                "placement.maxPerSite caps divided replicas; division Duplicated runs one "
                "per site: set placement.division: Divided, or remove placement.maxPerSite"
            )
        duplicated = self.mode is PlacementMode.REPLICAS and self.division is not Division.DIVIDED
        for spread in self.spread or ():
            if duplicated and spread.min_groups and (self.replicas or 0) < spread.min_groups:
                raise ValueError(
                    f"spread over {spread.topology_key} needs minGroups {spread.min_groups} "
                    f"but there are only {self.replicas} replicas: lower minGroups or add "
                    "replicas"
                )
        return self


class Fencing(enum.StrEnum):
    """Whether a replica may run twice while its site is cut off (docs/failover.md)."""

    NONE = "None"
    """Availability first: the replacement starts at once; a returning site stops its
    copy when it hears the assignment moved."""
    STRICT = "Strict"
    """Never twice: the agent stops the replica when it cannot renew its lease, and the
    replacement starts only after that lease has certainly ended."""


class Failover(Model):
    """What happens to the replicas at a site that is lost (``health.failover``): moved
    ``afterSeconds`` after its last heartbeat (5 when unset), fenced or not, moved back
    when the site has been healthy for ``holdDownSeconds`` (60) if ``failback``; an
    instance unhealthy for ``unhealthyAfterSeconds`` at a reachable site moves too
    (never when unset)."""

    after_seconds: Seconds | None = Field(default=None, alias="afterSeconds")
    fencing: Fencing | None = None
    failback: Flag | None = None
    hold_down_seconds: Seconds | None = Field(default=None, alias="holdDownSeconds")
    unhealthy_after_seconds: Seconds | None = Field(default=None, alias="unhealthyAfterSeconds")


class Override(Model):
    """A change to the workload at some sites: ``values`` is a JSON merge patch over the
    workload; ``patches`` (kubernetes workloads) change single manifests after it."""

    site: ObjectName | None = None
    site_selector: LabelSelector | None = Field(default=None, alias="siteSelector")
    values: dict[str, Any] = Field(default_factory=dict)
    patches: list[ManifestPatch] | None = Field(default=None, max_length=PATCHES_MAX)

    def manifests(self, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The manifests the patches apply to: ``values`` may replace the whole list."""
        replaced = (self.values.get("kubernetes") or {}).get("manifests")
        return replaced if isinstance(replaced, list) else base

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
    autoscaling: Autoscaling | None = None
    """Replicas that follow the metrics (``edgeplane.scaling``), from placement.replicas."""

    @model_validator(mode="after")
    def _autoscaling_replicas(self) -> ApplicationSpec:
        if self.autoscaling is not None and self.placement.mode is not PlacementMode.REPLICAS:
            raise ValueError(
                "spec.autoscaling changes placement.replicas, and mode EverySite runs one "
                "instance per site: remove spec.autoscaling, or use placement.mode Replicas"
            )
        return self

    @model_validator(mode="after")
    def _fencing_moves(self) -> ApplicationSpec:
        fencing = self.failover.fencing if self.failover else None
        if fencing is Fencing.STRICT and self.placement.mode is PlacementMode.EVERY_SITE:
            raise ValueError(
                "failover.fencing Strict fences replicas that move; an EverySite "
                "application stays at its sites: remove failover.fencing or use mode Replicas"
            )
        return self

    @model_validator(mode="after")
    def _gates_reach(self) -> ApplicationSpec:
        gates = self.rollout.gates if self.rollout else None
        if gates is None or self.workload.kubernetes is None:
            return self
        if gates.http is not None:
            raise ValueError(
                "rollout.gates.http checks a process workload's port on the agent's "
                "loopback, which a kubernetes workload's pods do not have: remove "
                "rollout.gates.http and give the pods a readinessProbe (their readiness "
                "is what the rollout waits for)"
            )
        if gates.max_restarts is not None:
            raise ValueError(
                "rollout.gates.maxRestarts counts a process workload's restarts; a "
                "kubernetes workload reports its objects' readiness, not its pods' "
                "restarts: remove rollout.gates.maxRestarts (a crash-looping pod is not "
                "Ready, and progressDeadlineSeconds fails its site)"
            )
        return self


class StatusEvent(Model):
    """Something that happened to the application (newest last; a few are kept)."""

    time: ShortText
    reason: Reason
    message: Message


class ApplicationStatus(Model):
    observed_generation: Generation | None = Field(default=None, alias="observedGeneration")
    sites: list[ShortText] | None = Field(default=None, max_length=STATUS_SITES_MAX)
    replicas: Count | None = None
    ready: Count | None = None
    unplaced: Count | None = None
    message: Message | None = None
    conditions: Conditions | None = None
    events: list[StatusEvent] | None = Field(default=None, max_length=STATUS_EVENTS_MAX)
    fencing_epoch: Generation | None = Field(default=None, alias="fencingEpoch")
    """The highest epoch given to a fenced replica of the application: the next one's
    is higher, even after every replica was removed."""
    rollout: RolloutStatus | None = None
    """Where the rollout of the newest revision stands (``edgeplane.rollout``)."""
    autoscaling: AutoscalingStatus | None = None
    """What the autoscaler saw and decided, and the history it needs (``edgeplane.scaling``)."""


class Application(Resource):
    kind: Literal["Application"] = "Application"
    spec: ApplicationSpec
    status: ApplicationStatus | None = None
