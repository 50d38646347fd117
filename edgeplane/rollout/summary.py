"""Summaries: what ``status.rollout`` shows of a step, counts per wave and per
revision, one sentence of where the rollout stands and why it waits.

Computed from the step's new state and decisions (``machine``), never stored apart
from them; ``wire`` writes them out. Sentences name the app and the command to run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence, Set

from edgeplane.rollout.model import (
    Phase,
    RevisionCount,
    RolloutState,
    SiteView,
    Strategy,
    Summary,
    WavePhase,
    WaveSummary,
)
from edgeplane.rollout.strategy import Wave
from edgeplane.rollout.wire import rfc3339

MAX_REVISIONS = 20


def summarize(
    state: RolloutState,
    strategy: Strategy,
    waves: Sequence[Wave],
    views: Mapping[str, SiteView],
    revisions: Mapping[str, int],
    held: Set[str],
) -> Summary:
    return Summary(
        waves=tuple(
            _wave(state, index, wave, views, revisions) for index, wave in enumerate(waves)
        ),
        revisions=_revisions(views, revisions),
        message=_message(state, strategy, waves),
        waiting=_waiting(state, views, revisions, held),
    )


def _wave(
    state: RolloutState,
    index: int,
    wave: Wave,
    views: Mapping[str, SiteView],
    revisions: Mapping[str, int],
) -> WaveSummary:
    target = state.revision
    sites = [views[name] for name in wave.sites]
    behind = [site for site in sites if revisions[site.name] != target]
    return WaveSummary(
        name=wave.name,
        sites=len(sites),
        updated=len(sites) - len(behind),
        ready=sum(1 for site in sites if site.revision == target and site.ready),
        failed=sum(1 for site in sites if site.name in state.failed),
        skipped=sum(1 for site in behind if not site.reachable),
        waiting=sum(1 for site in behind if site.reachable and not site.window_open),
        phase=_wave_phase(state, index),
        started_at=_started_at(state, index),
        passed_at=state.passed_at[index] if index < len(state.passed_at) else None,
    )


def _wave_phase(state: RolloutState, index: int) -> WavePhase:
    if state.phase is Phase.SUCCEEDED or index < state.wave:
        return WavePhase.PASSED
    if index > state.wave:
        return WavePhase.PENDING
    return {
        Phase.PROGRESSING: WavePhase.SOAKING if state.soak_started_at else WavePhase.PROGRESSING,
        Phase.PAUSED: WavePhase.WAITING,
        Phase.AWAITING_APPROVAL: WavePhase.WAITING,
        Phase.FAILED: WavePhase.FAILED,
        Phase.ROLLED_BACK: WavePhase.FAILED,
    }.get(state.phase, WavePhase.PENDING)


def _started_at(state: RolloutState, index: int) -> float | None:
    if index == state.wave:
        return state.wave_started_at
    if index > state.wave:
        return None
    return state.passed_at[index - 1] if 0 < index <= len(state.passed_at) else state.started_at


def _revisions(
    views: Mapping[str, SiteView], revisions: Mapping[str, int]
) -> tuple[RevisionCount, ...]:
    sites = Counter(revisions.values())
    ready = Counter(
        revision
        for name, revision in revisions.items()
        if views[name].revision == revision and views[name].ready
    )
    newest = sorted(sites, reverse=True)[:MAX_REVISIONS]
    return tuple(RevisionCount(r, sites[r], ready[r]) for r in newest)


def _message(state: RolloutState, strategy: Strategy, waves: Sequence[Wave]) -> str:
    app = strategy.application or "APP"
    wave = waves[state.wave].name if state.wave < len(waves) else "-"
    target, stable = state.revision, state.stable
    return {
        Phase.PROGRESSING: f"revision {target}: wave {wave} ({state.wave + 1}/{len(waves)})"
        + _soak(state, strategy),
        Phase.PAUSED: f"revision {target} paused in wave {wave}: "
        f"`edgeplane rollout resume {app}` goes on",
        Phase.AWAITING_APPROVAL: f"revision {target}: wave {wave} awaits approval: "
        f"`edgeplane rollout approve {app} --wave {wave}`",
        Phase.SUCCEEDED: f"revision {target} succeeded",
        Phase.FAILED: f"revision {target} failed in wave {wave}, halted: "
        f"`edgeplane rollout abort {app}` rolls back to revision {stable}",
        Phase.ROLLED_BACK: f"revision {target} failed in wave {wave}: "
        f"rolled back to revision {stable}",
        Phase.ABORTED: f"revision {target} aborted: sites run revision {stable}",
    }[state.phase]


def _soak(state: RolloutState, strategy: Strategy) -> str:
    if state.soak_started_at is None:
        return ""
    until = state.soak_started_at + strategy.min_success_seconds
    return f" soaking until {rfc3339(until)} ({strategy.min_success_seconds:.0f} s)"


def _waiting(
    state: RolloutState,
    views: Mapping[str, SiteView],
    revisions: Mapping[str, int],
    held: Set[str],
) -> tuple[str, ...]:
    behind = [views[name] for name, r in revisions.items() if r != state.revision]
    offline = sum(1 for site in behind if not site.reachable)
    closed = [site for site in behind if site.reachable and not site.window_open]
    lines = []
    if offline:
        lines.append(f"{offline} site(s) offline: skipped, they catch up when back")
    if closed:
        lines.append(f"{len(closed)} site(s) outside their maintenance window" + _opens(closed))
    if held:
        lines.append(f"{len(held)} site(s) held back by maxUnavailable")
    return tuple(lines)


def _opens(sites: Sequence[SiteView]) -> str:
    opens = [site.window_opens_at for site in sites if site.window_opens_at is not None]
    return f" (next opens {rfc3339(min(opens))})" if opens else ""
