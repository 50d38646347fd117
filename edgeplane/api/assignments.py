"""``Assignment``: written by the hub, watched by agents. Application A at revision R
runs at site S with this many replicas and this rendered workload.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeplane.api.meta import Condition, Model, ObjectName, Resource
from edgeplane.api.workloads import Resources, Workload


class AssignmentSpec(Model):
    application: ObjectName
    revision: int = Field(ge=1)
    site: ObjectName
    replicas: int = Field(default=1, ge=0)
    workload: Workload
    resources: Resources | None = None


class Endpoint(Model):
    """Where a running workload can be reached: a named port at the site's address."""

    name: str | None = None
    port: int = Field(ge=1, le=65535)
    url: str | None = None


class AssignmentStatus(Model):
    phase: str | None = None
    ready: int | None = Field(default=None, ge=0)
    reason: str | None = None
    message: str | None = None
    restarts: int | None = Field(default=None, ge=0)
    endpoints: list[Endpoint] | None = None
    started_at: str | None = Field(default=None, alias="startedAt")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    conditions: list[Condition] | None = None


class Assignment(Resource):
    kind: Literal["Assignment"] = "Assignment"
    spec: AssignmentSpec
    status: AssignmentStatus | None = None
