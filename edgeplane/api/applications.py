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

from edgeplane.api.meta import Condition, LabelKey, Model, ObjectName, Resource
from edgeplane.api.selectors import LabelSelector
from edgeplane.api.workloads import Resources, Seconds, Workload

TaintEffectName = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"{what} {item!r} appears twice: list each once")
        seen.add(item)


class DeviceRequirement(Model):
    selector: LabelSelector
    count: int = Field(default=1, ge=1)


class PlacementMode(enum.StrEnum):
    REPLICAS = "Replicas"
    EVERY_SITE = "EverySite"


class SpreadConstraint(Model):
    """Replicas spread over the values of a site label (region, zone): no value more than
    ``maxSkew`` replicas ahead of another that still has room, using at least
    ``minGroups`` and at most ``maxGroups`` values."""

    topology_key: LabelKey = Field(alias="topologyKey")
    max_skew: int = Field(default=1, ge=1, alias="maxSkew")
    min_groups: int | None = Field(default=None, ge=1, alias="minGroups")
    max_groups: int | None = Field(default=None, ge=1, alias="maxGroups")

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
    weight: int = Field(ge=0)

    @model_validator(mode="after")
    def _one_target(self) -> StaticWeight:
        if (self.site_group is None) == (self.selector is None):
            raise ValueError("a weight targets exactly one of siteGroup or selector")
        return self


class Point(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Locality(Model):
    """Prefer sites near a point or near a SiteGroup's sites; with ``maxDistanceKm``,
    sites farther away (or without a location) are not used at all."""

    near: Point | None = None
    site_group: ObjectName | None = Field(default=None, alias="siteGroup")
    max_distance_km: float | None = Field(default=None, gt=0, alias="maxDistanceKm")

    @model_validator(mode="after")
    def _one_target(self) -> Locality:
        if (self.near is None) == (self.site_group is None):
            raise ValueError("locality needs exactly one of near ({lat, lon}) or siteGroup")
        return self


class Scoring(Model):
    """How much each scorer weighs when choosing among feasible sites."""

    balance: float | None = Field(default=None, ge=0)
    locality: float | None = Field(default=None, ge=0)
    stickiness: float | None = Field(default=None, ge=0)


class TolerationOperator(enum.StrEnum):
    EQUAL = "Equal"
    EXISTS = "Exists"


class Toleration(Model):
    """Lets an application run at sites with a matching taint, as in Kubernetes: no
    ``key`` with ``Exists`` tolerates every taint; no ``effect`` tolerates every effect."""

    key: LabelKey | None = None
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: str | None = None
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
    replicas: int | None = Field(default=None, ge=0)
    site_groups: list[ObjectName] | None = Field(default=None, alias="siteGroups")
    selector: LabelSelector | None = None
    spread: list[SpreadConstraint] | None = None
    priority: int | None = None
    tolerations: list[Toleration] | None = None
    division: Division | None = None
    weights: list[StaticWeight] | None = None
    locality: Locality | None = None
    scoring: Scoring | None = None

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
        duplicated = self.mode is PlacementMode.REPLICAS and self.division is not Division.DIVIDED
        for spread in self.spread or ():
            if duplicated and spread.min_groups and (self.replicas or 0) < spread.min_groups:
                raise ValueError(
                    f"spread over {spread.topology_key} needs minGroups {spread.min_groups} "
                    f"but there are only {self.replicas} replicas: lower minGroups or add "
                    "replicas"
                )
        return self


class Failover(Model):
    after_seconds: Seconds | None = Field(default=None, alias="afterSeconds")
    failback: bool | None = None


class RolloutGroup(Model):
    name: ObjectName
    site_group: ObjectName = Field(alias="siteGroup")


class Rollout(Model):
    groups: list[RolloutGroup] | None = None
    max_unavailable: int | str | None = Field(default=None, alias="maxUnavailable")
    min_success_seconds: Seconds | None = Field(default=None, alias="minSuccessSeconds")
    auto_rollback: bool | None = Field(default=None, alias="autoRollback")

    @field_validator("groups")
    @classmethod
    def _groups_once(cls, groups: list[RolloutGroup] | None) -> list[RolloutGroup] | None:
        _unique([g.name for g in groups or ()], "rollout group")
        return groups

    @field_validator("max_unavailable")
    @classmethod
    def _check_max_unavailable(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"maxUnavailable {value} must be 0 or more")
        if isinstance(value, str) and not (value.endswith("%") and value[:-1].isdigit()):
            raise ValueError(f"maxUnavailable {value!r}: use a count or a percentage like '10%'")
        if isinstance(value, str) and int(value[:-1]) > 100:
            raise ValueError(f"maxUnavailable {value!r}: a percentage must be at most 100%")
        return value


class Override(Model):
    site: ObjectName | None = None
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


class StatusEvent(Model):
    """Something that happened to the application (newest last; a few are kept)."""

    time: str
    reason: str = Field(min_length=1)
    message: str


class ApplicationStatus(Model):
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    sites: list[str] | None = None
    replicas: int | None = Field(default=None, ge=0)
    ready: int | None = Field(default=None, ge=0)
    unplaced: int | None = Field(default=None, ge=0)
    message: str | None = None
    conditions: list[Condition] | None = None
    events: list[StatusEvent] | None = None


class Application(Resource):
    kind: Literal["Application"] = "Application"
    spec: ApplicationSpec
    status: ApplicationStatus | None = None
