"""The values the rollout machine speaks: its strategy, its view of each site, the
operator's controls, its persisted state and what one step decides.

All frozen. ``strategy`` builds a ``Strategy`` from ``spec.rollout`` and the waves from
the sites; ``machine`` turns a ``RolloutState`` and ``SiteView``s into a ``Step``;
``wire`` converts the state to and from ``status.rollout``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.rollouts import RolloutPhase
from edgeplane.api.rollouts import WavePhase as WavePhase  # a wave's phase, the API's

Phase = RolloutPhase
"""The rollout's phase (``status.rollout.phase``), as the API defines it."""

MAX_STORY = 50
"""Story lines kept (newest last): enough to explain a rollout of many waves."""


@dataclass(frozen=True, slots=True)
class Amount:
    """A number of sites: a count, or a percentage of the sites it applies to
    (``percent``: ``count`` is the percentage, rounded down when applied)."""

    count: int
    percent: bool = False

    def of(self, total: int) -> int:
        if self.percent:
            return math.floor(total * self.count / 100)
        return self.count

    def __str__(self) -> str:
        return f"{self.count}%" if self.percent else str(self.count)


ALL = Amount(100, percent=True)


@dataclass(frozen=True, slots=True)
class WaveSpec:
    """One wave as the strategy declares it: a SiteGroup's sites (``site_group``), a
    cumulative percentage of the placed sites (``percent``), or neither (``rest``)."""

    name: str
    site_group: str | None = None
    percent: int | None = None
    require_approval: bool = False
    max_unavailable: Amount | None = None


@dataclass(frozen=True, slots=True)
class Strategy:
    """How an application's new revision reaches its sites (``spec.rollout``)."""

    waves: tuple[WaveSpec, ...]
    max_unavailable: Amount = ALL
    min_success_seconds: float = 0.0
    auto_rollback: bool = False
    failure_threshold: Amount = ALL
    progress_deadline_seconds: float = 600.0
    max_restarts: int | None = None
    application: str = ""
    """Orders the sites of percentage steps (sha256 of ``application/site``) so each
    application picks its own canaries, and names the app in the hints shown."""

    @classmethod
    def from_spec(cls, rollout: Mapping[str, Any] | None, application: str = "") -> Strategy:
        """The strategy of ``spec.rollout`` as on the wire (camelCase); None is today's
        behaviour (one wave, everything at once). Raises ValueError naming the field
        on a value the API would have refused."""
        # strategy imports this module; deferred so the contract's classmethod can stay
        from edgeplane.rollout.strategy import strategy_from_spec

        return strategy_from_spec(rollout, application)


@dataclass(frozen=True, slots=True)
class SiteView:
    """What the machine knows of one placed site of the application."""

    name: str
    groups: frozenset[str] = frozenset()
    revision: int | None = None
    """The revision its Assignment names now (None: the application is new here)."""
    ready: bool = False
    """Ready at that revision (observed, every replica)."""
    failure: str | None = None
    """Why it fails at that revision (crash loop, a gate), else None."""
    restarts: int = 0
    reachable: bool = True
    window_open: bool = True
    window_opens_at: float | None = None


@dataclass(frozen=True, slots=True)
class Controls:
    """The operator's word for the current target revision (``status.rollout.control``)."""

    paused: bool = False
    promote: int | None = None
    """The index of a wave whose soak is skipped."""
    approved: frozenset[int] = frozenset()
    abort: bool = False


@dataclass(frozen=True, slots=True)
class StoryEntry:
    time: float
    message: str


@dataclass(frozen=True, slots=True)
class RolloutState:
    """The rollout of one application towards ``revision``; persisted as
    ``status.rollout`` (``wire``)."""

    revision: int
    stable: int | None
    phase: Phase
    wave: int = 0
    wave_started_at: float | None = None
    soak_started_at: float | None = None
    inflight: Mapping[str, float] = field(default_factory=dict)
    """Site -> when it was told to run ``revision`` (or found there), not Ready yet."""
    failed: Mapping[str, str] = field(default_factory=dict)
    """Site -> why it failed at ``revision``."""
    started_at: float = 0.0
    finished_at: float | None = None
    story: tuple[StoryEntry, ...] = ()
    passed_at: tuple[float, ...] = ()
    """When each wave passed, by wave index (the waves before ``wave``)."""

    def to_wire(self, summary: Summary) -> dict[str, Any]:
        # wire imports this module; deferred so the contract's method can stay
        from edgeplane.rollout.wire import state_to_wire

        return state_to_wire(self, summary)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> RolloutState | None:
        from edgeplane.rollout.wire import state_from_wire

        return state_from_wire(data)


@dataclass(frozen=True, slots=True)
class WaveSummary:
    name: str
    sites: int
    updated: int
    ready: int
    failed: int
    skipped: int
    """Offline: not updated, not waited for."""
    waiting: int
    """Outside their maintenance window (or held by the budget): not updated yet."""
    phase: WavePhase
    started_at: float | None = None
    passed_at: float | None = None


@dataclass(frozen=True, slots=True)
class RevisionCount:
    revision: int
    sites: int
    ready: int


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``status.rollout`` shows beyond the state: counts and sentences."""

    waves: tuple[WaveSummary, ...] = ()
    revisions: tuple[RevisionCount, ...] = ()
    message: str = ""
    waiting: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """What one step decided: the new state, the revision EVERY given site runs, the
    events to record (``"<Reason>: <message>"``, see ``machine.event_parts``), when to
    step again without news (None: only on news), and the summary to show."""

    state: RolloutState
    revisions: Mapping[str, int]
    events: tuple[str, ...]
    wake_at: float | None
    summary: Summary
