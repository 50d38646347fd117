"""Rollout: the pure rollout state machine and its strategies; no I/O.

Belongs here: the rules that move an application's sites from one revision to the next
wave by wave (budgets, soak, approval, health gates, rollback), their persisted state
(``status.rollout``) and the maintenance-window state of a site; imports of ``api`` and
the standard library only. Not here: reading Assignments, Sites or Revisions from the
store, rendering Assignments, writing status or events (``hub.controllers.rollouts``
carries the decisions out), nor parsing cron text (``api.schedules``, shared with API
validation).

* ``model``: the values the machine speaks (``Phase``, ``Strategy``, ``SiteView``,
  ``Controls``, ``RolloutState``, ``Step``, ``Summary``).
* ``strategy``: ``spec.rollout`` as a ``Strategy`` and which wave each site is in.
* ``machine``: ``begin``, ``step`` and ``story``; ``transitions``: the explicit
  ``TRANSITIONS`` table and the event reasons.
* ``budget``: how many more sites a step may take down (``maxUnavailable``).
* ``summary``: the counts and sentences ``status.rollout`` shows.
* ``wire``: ``status.rollout`` to and from a ``RolloutState``.
* ``windows``: whether a site's maintenance windows are open now, and when one opens.

Every time is passed in (``now``, seconds since the epoch by the hub's clock).
"""

from edgeplane.rollout.machine import begin, step, story
from edgeplane.rollout.model import (
    Amount,
    Controls,
    Phase,
    RevisionCount,
    RolloutState,
    SiteView,
    Step,
    StoryEntry,
    Strategy,
    Summary,
    WavePhase,
    WaveSpec,
    WaveSummary,
)
from edgeplane.rollout.strategy import Wave, waves_of
from edgeplane.rollout.transitions import TRANSITIONS, Event, event_parts
from edgeplane.rollout.windows import window_state
from edgeplane.rollout.wire import controls_from_wire

__all__ = [
    "TRANSITIONS",
    "Amount",
    "Controls",
    "Event",
    "Phase",
    "RevisionCount",
    "RolloutState",
    "SiteView",
    "Step",
    "StoryEntry",
    "Strategy",
    "Summary",
    "Wave",
    "WavePhase",
    "WaveSpec",
    "WaveSummary",
    "begin",
    "controls_from_wire",
    "event_parts",
    "step",
    "story",
    "waves_of",
    "window_state",
]
