"""Transitions: the rollout's phases change only as this table says.

``TRANSITIONS`` maps (phase, event) to the next phase; ``machine`` looks every change
up here (a missing pair is a bug, not a decision). ``REASONS`` names the status event
each transition records (``Rollout*``); ``Step.events`` are ``"<Reason>: <message>"``
strings, split by ``event_parts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from edgeplane.rollout.model import Phase


class Event(StrEnum):
    PAUSE = "Pause"
    RESUME = "Resume"
    AWAIT_APPROVAL = "AwaitApproval"
    APPROVE = "Approve"
    WAVE_PASSED = "WavePassed"
    COMPLETE = "Complete"
    FAIL_ROLLBACK = "FailRollback"
    FAIL_HALT = "FailHalt"
    ABORT = "Abort"


_P = Phase
TRANSITIONS: Mapping[tuple[Phase, Event], Phase] = {
    (_P.PROGRESSING, Event.PAUSE): _P.PAUSED,
    (_P.AWAITING_APPROVAL, Event.PAUSE): _P.PAUSED,
    (_P.PAUSED, Event.RESUME): _P.PROGRESSING,
    (_P.PROGRESSING, Event.AWAIT_APPROVAL): _P.AWAITING_APPROVAL,
    (_P.AWAITING_APPROVAL, Event.APPROVE): _P.PROGRESSING,
    (_P.PROGRESSING, Event.WAVE_PASSED): _P.PROGRESSING,
    (_P.PROGRESSING, Event.COMPLETE): _P.SUCCEEDED,
    **{(phase, Event.FAIL_ROLLBACK): _P.ROLLED_BACK for phase in _P if phase.active},
    **{(phase, Event.FAIL_HALT): _P.FAILED for phase in _P if phase.active},
    **{(phase, Event.ABORT): _P.ABORTED for phase in _P if phase.active},
    (_P.FAILED, Event.ABORT): _P.ABORTED,
}

REASONS: Mapping[Event, str] = {
    Event.PAUSE: "RolloutPaused",
    Event.RESUME: "RolloutResumed",
    Event.AWAIT_APPROVAL: "RolloutAwaitingApproval",
    Event.APPROVE: "RolloutApproved",
    Event.WAVE_PASSED: "RolloutWavePassed",
    Event.COMPLETE: "RolloutSucceeded",
    Event.FAIL_ROLLBACK: "RolloutRolledBack",
    Event.FAIL_HALT: "RolloutFailed",
    Event.ABORT: "RolloutAborted",
}


def event_parts(event: str) -> tuple[str, str]:
    """(reason, message) of one of ``Step.events``: ``"RolloutPaused: ..."``."""
    reason, _, message = event.partition(": ")
    return reason, message
