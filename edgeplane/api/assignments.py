"""``Assignment``: written by the hub, watched by agents. Application A at revision R
runs at site S with this many replicas and this rendered workload.

An autoscaled application's assignments name the metrics its autoscaler wants
(``spec.metrics``); the site's agent reports their averages over its ready instances
(``status.metrics``), which the hub sums up across sites.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeplane.api.applications import Fencing
from edgeplane.api.autoscaling import MetricName
from edgeplane.api.meta import (
    Address,
    Conditions,
    Count,
    Generation,
    Message,
    Model,
    Number,
    ObjectName,
    PortNumber,
    PositiveCount,
    Reason,
    Resource,
    ShortText,
)
from edgeplane.api.rollouts import HttpGate
from edgeplane.api.workloads import Resources, Workload

ENDPOINTS_MAX = 256
"""Endpoints one assignment reports (one a port of the workload)."""


class AssignmentGate(Model):
    """The checks beyond Ready the agent runs for the application's rollout, reported as
    the status condition ``Gate``."""

    http: HttpGate | None = None


DEVICES_MAX = 1024
"""Devices one assignment hands its instances (``placement.binding``)."""


class AssignedDevice(Model):
    """A device one instance of the assignment was given (``placement.binding``)."""

    name: ObjectName
    instance: Count
    """The replica it is for (``EDGEPLANE_REPLICA``)."""
    requirement: Count
    """Which of the application's ``spec.devices`` it answers."""
    address: Address | None = None
    protocol: ShortText | None = None


METRICS_MAX = 10
"""Metrics one assignment names, and reports (the autoscaler's own bound)."""


class MetricValue(Model):
    """A metric's average over the assignment's ready instances at the site that had a
    value (``samples`` of them)."""

    name: MetricName
    value: Number
    samples: Count


class AssignmentSpec(Model):
    application: ObjectName
    revision: PositiveCount
    """The number of the application's ``Revision`` this site runs."""
    site: ObjectName
    replicas: Count = 1
    workload: Workload
    resources: Resources | None = None
    fencing: Fencing | None = None
    epoch: Generation | None = None
    """Strict fencing's token: higher each time the application's replica moves, handed
    to the workload (``EDGEPLANE_EPOCH``) to guard what it writes elsewhere."""
    failed_over_from: ObjectName | None = Field(default=None, alias="failedOverFrom")
    """The lost site this replica replaces (failback moves it home)."""
    gate: AssignmentGate | None = None
    devices: list[AssignedDevice] | None = Field(default=None, max_length=DEVICES_MAX)
    metrics: list[MetricName] | None = Field(default=None, max_length=METRICS_MAX)
    """The metrics the application's autoscaler wants the site to report."""


class Endpoint(Model):
    """Where a running workload can be reached: a named port at the site's address."""

    name: ShortText | None = None
    port: PortNumber
    url: Address | None = None


class AssignmentStatus(Model):
    phase: ShortText | None = None
    ready: Count | None = None
    reason: Reason | None = None
    message: Message | None = None
    restarts: Count | None = None
    endpoints: list[Endpoint] | None = Field(default=None, max_length=ENDPOINTS_MAX)
    started_at: ShortText | None = Field(default=None, alias="startedAt")
    observed_generation: Generation | None = Field(default=None, alias="observedGeneration")
    conditions: Conditions | None = None
    metrics: list[MetricValue] | None = Field(default=None, max_length=METRICS_MAX)


class Assignment(Resource):
    kind: Literal["Assignment"] = "Assignment"
    spec: AssignmentSpec
    status: AssignmentStatus | None = None
