"""An Application's ``spec.rollout`` (how a new revision reaches its sites: waves by
SiteGroup or by percentage, budgets, soak, gates, rollback) and ``status.rollout`` (where
that rollout stands), as they are on the wire.

Only the shape is checked here. What the numbers mean (waves, budgets, the phases) is the
rollout state machine's, in ``edgeplane.rollout``; ``applications`` holds these models in
the Application's spec and status, and ``assignments`` carries ``HttpGate`` to the agent.
"""

from __future__ import annotations

import enum
import itertools
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    ValidationInfo,
    field_validator,
)

from edgeplane.api import confinement
from edgeplane.api.meta import (
    INT32_MAX,
    Count,
    Flag,
    Message,
    Model,
    ObjectName,
    PositiveCount,
    ShortText,
)
from edgeplane.api.workloads import PortRef, PositiveSeconds, Seconds

WAVES_MAX = 64
"""Waves of one rollout: its groups or steps, and the last wave ``rest``."""
REVISION_HISTORY_MAX = 100
STATUS_REVISIONS_MAX = 20
STATUS_WAITING_MAX = 10
STATUS_FAILED_MAX = 50
STATUS_STORY_MAX = 50
STATUS_INFLIGHT_MAX = 100_000
"""Sites updated and not Ready yet (a wave of a 10,000-site fleet fits many times)."""
GATE_TIMEOUT_MAX_SECONDS = 60
"""An HTTP gate probes every instance: a longer wait would only slow the agent."""

_PERCENT = re.compile(r"[0-9]{1,3}%")


def _percent_of(value: str, field: str, lowest: int) -> int:
    """The N of ``"N%"``, or ValueError naming ``field`` and the fix."""
    if not _PERCENT.fullmatch(value) or not lowest <= int(value[:-1]) <= 100:
        raise ValueError(
            f"{field} {value!r}: write a percentage from {lowest}% to 100%, like '10%'"
        )
    return int(value[:-1])


def _amount(value: int | str, field: str, lowest: int) -> int | str:
    """A count (``lowest`` to int32) or ``"N%"`` (``lowest``% to 100%)."""
    if value in (0, "0%") and lowest == 1:
        raise ValueError(
            f"{field} {value!r} lets no site update, so the rollout could never move: "
            "use at least 1 or '1%' (or leave it out for 25%)"
        )
    if isinstance(value, str):
        _percent_of(value, field, lowest)
    elif not lowest <= value <= INT32_MAX:
        raise ValueError(f"{field} {value} must be from {lowest} to {INT32_MAX} sites, or 'N%'")
    return value


def _unavailable(value: int | str | None) -> int | str | None:
    return None if value is None else _amount(value, "maxUnavailable", 1)


def _step_percent(value: str) -> str:
    _percent_of(value, "step", 1)
    return value


Amount = StrictInt | str
"""A number of sites, or ``"N%"`` of them."""
MaxUnavailable = Annotated[Amount, AfterValidator(_unavailable)]
StepPercent = Annotated[str, AfterValidator(_step_percent)]
"""``"N%"``, 1 to 100: the share of the placed sites updated once the step is done."""


class RolloutGroup(Model):
    """A wave of the sites of a SiteGroup (a site in several groups is in the first)."""

    name: ObjectName
    site_group: ObjectName = Field(alias="siteGroup")
    require_approval: Flag | None = Field(default=None, alias="requireApproval")
    max_unavailable: MaxUnavailable | None = Field(default=None, alias="maxUnavailable")


class RolloutStep(Model):
    """A step that waits for approval before it starts (``percent`` as a plain step)."""

    percent: StepPercent
    require_approval: Flag | None = Field(default=None, alias="requireApproval")


def _step_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "str"
    return "RolloutStep" if isinstance(value, dict | RolloutStep) else None


Step = Annotated[
    Annotated[StepPercent, Tag("str")] | Annotated[RolloutStep, Tag("RolloutStep")],
    Discriminator(
        _step_kind,
        custom_error_type="invalid_step",
        custom_error_message="write a step as 'N%' or {percent: 'N%', requireApproval: true}",
    ),
]
"""One spelling or the other, so a mistake is told once, in the terms of its spelling."""


def _probe_path(path: str) -> str:
    if problem := confinement.probe_path_problem(path):
        raise ValueError(problem)
    return path


class HttpGate(Model):
    """Healthy when ``GET http://127.0.0.1:<port><path>`` of each Ready instance at the
    new revision answers 2xx or 3xx within ``timeoutSeconds`` (2 when unset)."""

    path: Annotated[str, AfterValidator(_probe_path)] = "/"
    port: PortRef
    timeout_seconds: PositiveSeconds | None = Field(
        default=None, le=GATE_TIMEOUT_MAX_SECONDS, alias="timeoutSeconds"
    )


class Gates(Model):
    """More than Ready: a site at the new revision fails when an instance restarts more
    than ``maxRestarts`` times, or its HTTP gate fails."""

    max_restarts: Count | None = Field(default=None, alias="maxRestarts")
    http: HttpGate | None = None


class Rollout(Model):
    """How a new revision reaches the sites (docs/api.md, "spec.rollout"). No rollout at
    all: every site at once; ``{}``: the defaults each field names."""

    groups: list[RolloutGroup] | None = Field(default=None, max_length=WAVES_MAX - 1)
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=WAVES_MAX - 1)
    max_unavailable: MaxUnavailable | None = Field(default=None, alias="maxUnavailable")
    min_success_seconds: Seconds | None = Field(default=None, alias="minSuccessSeconds")
    auto_rollback: Flag | None = Field(default=None, alias="autoRollback")
    failure_threshold: Amount | None = Field(default=None, alias="failureThreshold")
    progress_deadline_seconds: PositiveSeconds | None = Field(
        default=None, alias="progressDeadlineSeconds"
    )
    gates: Gates | None = None
    revision_history_limit: StrictInt | None = Field(
        default=None, ge=1, le=REVISION_HISTORY_MAX, alias="revisionHistoryLimit"
    )

    @field_validator("groups")
    @classmethod
    def _groups_once(cls, groups: list[RolloutGroup] | None) -> list[RolloutGroup] | None:
        seen: set[str] = set()
        for group in groups or ():
            if group.name in seen:
                raise ValueError(f"rollout group {group.name!r} appears twice: list each once")
            seen.add(group.name)
        return groups

    @field_validator("steps")
    @classmethod
    def _steps_increase(
        cls, steps: list[str | RolloutStep] | None, info: ValidationInfo
    ) -> list[str | RolloutStep] | None:
        if steps is not None and info.data.get("groups") is not None:
            raise ValueError(
                "steps and groups both set: waves are either by SiteGroup (groups) or by "
                "percentage (steps): remove one of them"
            )
        percents = [step_percent(s) for s in steps or ()]
        for before, after in itertools.pairwise(percents):
            if after <= before:
                raise ValueError(
                    f"step {after}% follows {before}%: steps are cumulative, so each must be "
                    "higher than the one before (e.g. ['1%', '10%', '50%'])"
                )
        return steps

    @field_validator("failure_threshold")
    @classmethod
    def _threshold(cls, value: int | str | None) -> int | str | None:
        return None if value is None else _amount(value, "failureThreshold", 0)


def step_percent(step: str | RolloutStep) -> int:
    """The percentage of a step, either spelling."""
    text = step.percent if isinstance(step, RolloutStep) else step
    return int(text[:-1])


class RolloutPhase(enum.StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    AWAITING_APPROVAL = "AwaitingApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"

    @property
    def active(self) -> bool:
        """Whether the rollout may still move sites to its target wave by wave."""
        return self in _ACTIVE

    @property
    def finished(self) -> bool:
        """Whether the rollout has ended: it will not change without a new revision
        (Failed is halted, and ends as Aborted only when the operator aborts)."""
        return self not in _ACTIVE


_ACTIVE = frozenset({RolloutPhase.PROGRESSING, RolloutPhase.PAUSED, RolloutPhase.AWAITING_APPROVAL})


class WavePhase(enum.StrEnum):
    PENDING = "Pending"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    SOAKING = "Soaking"
    PASSED = "Passed"
    FAILED = "Failed"


class WaveStatus(Model):
    """One wave: how many of its sites are updated, Ready, failed, skipped (offline) and
    waiting (outside their maintenance window)."""

    name: ShortText
    sites: Count | None = None
    updated: Count | None = None
    ready: Count | None = None
    failed: Count | None = None
    skipped: Count | None = None
    waiting: Count | None = None
    phase: WavePhase | None = None
    started_at: ShortText | None = Field(default=None, alias="startedAt")
    passed_at: ShortText | None = Field(default=None, alias="passedAt")


class RevisionCount(Model):
    """How many sites run ``revision``, and how many of them are Ready."""

    revision: PositiveCount
    sites: Count | None = None
    ready: Count | None = None


class FailedSite(Model):
    site: ShortText
    reason: Message


class RolloutControl(Model):
    """What an admin asked of the rollout to ``revision`` (the action route writes it;
    asks about an older target are ignored)."""

    revision: PositiveCount
    paused: Flag | None = None
    promote: Count | None = None
    """The wave whose soak to skip."""
    approved: list[Count] | None = Field(default=None, max_length=WAVES_MAX)
    """Waves approved to start."""
    abort: Flag | None = None


class StoryLine(Model):
    time: ShortText
    message: Message


class RolloutStatus(Model):
    """``status.rollout``: the rollout to ``revision`` (times are RFC 3339 UTC)."""

    revision: PositiveCount
    stable_revision: PositiveCount | None = Field(default=None, alias="stableRevision")
    phase: RolloutPhase
    wave: Count | None = None
    """The index of the current wave in ``waves``."""
    waves: list[WaveStatus] | None = Field(default=None, max_length=WAVES_MAX)
    revisions: list[RevisionCount] | None = Field(default=None, max_length=STATUS_REVISIONS_MAX)
    message: Message | None = None
    waiting: list[Message] | None = Field(default=None, max_length=STATUS_WAITING_MAX)
    """Why sites are held back (maintenance windows, approval), one line per reason."""
    failed: list[FailedSite] | None = Field(default=None, max_length=STATUS_FAILED_MAX)
    inflight: dict[ShortText, ShortText] | None = Field(
        default=None, max_length=STATUS_INFLIGHT_MAX
    )
    """Site -> when it was told to run ``revision`` (not Ready there yet)."""
    control: RolloutControl | None = None
    started_at: ShortText | None = Field(default=None, alias="startedAt")
    finished_at: ShortText | None = Field(default=None, alias="finishedAt")
    wave_started_at: ShortText | None = Field(default=None, alias="waveStartedAt")
    soak_started_at: ShortText | None = Field(default=None, alias="soakStartedAt")
    story: list[StoryLine] | None = Field(default=None, max_length=STATUS_STORY_MAX)
