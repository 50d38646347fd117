"""The rollout machine: ``begin`` a rollout towards a revision, then ``step`` it.

``step(state, strategy, sites, controls, now)`` is pure: it reads what each placed site
runs and how it fares, and returns the new state, the revision EVERY site runs, the
events to record and when to step again. Phases change only through ``TRANSITIONS``;
each change, wave and failure is written to the state's story (``story``).

Rules, in the order a step applies them: an abort rolls back at once; sites at the
target that fail (a failure reported, too many restarts, not Ready within the progress
deadline) are recorded, and a wave with more failed sites than its threshold fails the
rollout (rolled back, or halted without ``autoRollback``); a pause holds all updates;
a wave that needs approval waits for it; a wave whose updated sites have all been Ready
for ``minSuccessSeconds`` (or is promoted) passes and the next starts; then sites of
the current and passed waves move to the target within the budget. Offline and
out-of-window sites are skipped, never waited for. A site already unavailable moves
without spending budget (it cannot become less available). Rollback ignores budgets
and windows: it undoes harm. Neighbours: ``strategy`` (the waves), ``summary`` (what
status shows), ``wire`` (the persisted state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from edgeplane.rollout.budget import Budget
from edgeplane.rollout.model import (
    MAX_STORY,
    Controls,
    Phase,
    RolloutState,
    SiteView,
    Step,
    StoryEntry,
    Strategy,
)
from edgeplane.rollout.strategy import Wave, waves_of
from edgeplane.rollout.summary import summarize
from edgeplane.rollout.transitions import REASONS, TRANSITIONS, Event
from edgeplane.rollout.wire import rfc3339

MAX_NAMED = 5
"""Sites named in one failure event or line (the rest are counted)."""


def story(state: RolloutState) -> tuple[str, ...]:
    """What happened, one line a step that changed something: time and message."""
    return tuple(f"{rfc3339(entry.time)} {entry.message}" for entry in state.story)


def begin(revision: int, previous: RolloutState | None, now: float) -> RolloutState:
    """The rollout towards ``revision``. The first revision is not rolled out (nothing
    runs anything older); the stable revision is the last one that succeeded."""
    if previous is not None and previous.revision == revision:
        return previous
    if previous is None:
        line = StoryEntry(now, f"revision {revision} deployed: the first, not rolled out")
        return RolloutState(
            revision, revision, Phase.SUCCEEDED, started_at=now, finished_at=now, story=(line,)
        )
    stable = previous.revision if previous.phase is Phase.SUCCEEDED else previous.stable
    if stable == revision:
        line = StoryEntry(now, f"back to stable revision {revision}: sites catch up")
        return RolloutState(
            revision, stable, Phase.SUCCEEDED, started_at=now, finished_at=now, story=(line,)
        )
    return RolloutState(revision, stable, Phase.PROGRESSING, started_at=now)


def step(
    state: RolloutState,
    strategy: Strategy,
    sites: Sequence[SiteView],
    controls: Controls,
    now: float,
) -> Step:
    run = _Run(state, strategy, sites, controls, now)
    if state.phase.active:
        run.drive()
    else:
        run.settle()
    return run.result()


class _Run:
    """One step's working copy of the state (the machine's only mutable object; it
    never escapes ``step``)."""

    def __init__(
        self,
        state: RolloutState,
        strategy: Strategy,
        sites: Sequence[SiteView],
        controls: Controls,
        now: float,
    ) -> None:
        self.state, self.strategy, self.controls, self.now = state, strategy, controls, now
        self.views = {site.name: site for site in sites}
        self.waves = waves_of(strategy, sites)
        self.phase, self.wave, self.stable = state.phase, state.wave, state.stable
        self.wave_started_at, self.soak_started_at = state.wave_started_at, state.soak_started_at
        self.finished_at, self.passed_at = state.finished_at, list(state.passed_at)
        self.inflight = {s: at for s, at in state.inflight.items() if s in self.views}
        self.failed = {s: why for s, why in state.failed.items() if s in self.views}
        self.lines: list[StoryEntry] = []
        self.events: list[str] = []
        self.held: set[str] = set()
        self.revisions = {site.name: self._current(site) for site in sites}

    def _current(self, site: SiteView) -> int:
        if site.revision is not None:
            return site.revision
        if self.stable is None or self.phase is Phase.SUCCEEDED:
            return self.state.revision
        return self.stable

    # --- the story -------------------------------------------------------------

    def tell(self, reason: str, message: str) -> None:
        self.lines.append(StoryEntry(self.now, message))
        self.events.append(f"{reason}: {message}")

    def go(self, event: Event, message: str) -> None:
        self.phase = TRANSITIONS[(self.phase, event)]
        if self.phase.finished:
            self.finished_at = self.now
        self.tell(REASONS[event], message)

    # --- finished rollouts -----------------------------------------------------

    def settle(self) -> None:
        if self.phase is Phase.FAILED and self.controls.abort:
            self.go(Event.ABORT, f"aborted: every site back to revision {self.stable}")
        if self.phase is Phase.SUCCEEDED:
            self.catch_up()
        elif self.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
            self.roll_back()

    def roll_back(self) -> None:
        self.inflight.clear()
        if self.stable is not None:
            self.revisions = dict.fromkeys(self.revisions, self.stable)

    def catch_up(self) -> None:
        """Sites left behind (offline, out of window) move to the settled revision
        within the fleet budget."""
        behind = [
            site
            for site in self.views.values()
            if site.revision is not None and site.revision != self.state.revision
        ]
        self.move(sorted(behind, key=lambda site: site.name), per_wave=False)

    # --- active rollouts -------------------------------------------------------

    def drive(self) -> None:
        if self.wave_started_at is None:
            self.start_wave(first=True)
        if self.controls.abort:
            self.go(Event.ABORT, f"aborted: every site back to revision {self.stable}")
            self.roll_back()
            return
        self.track()
        if self.judge():
            self.advance()

    def start_wave(self, first: bool = False) -> None:
        self.wave_started_at, self.soak_started_at = self.now, None
        if first:
            self.tell(
                "RolloutStarted",
                f"rollout of revision {self.state.revision} started "
                f"(stable {self.stable}, {len(self.waves)} wave(s))",
            )
        if self.wave < len(self.waves):
            wave = self.waves[self.wave]
            self.tell(
                "RolloutWaveStarted",
                f"wave {wave.name} ({self.wave + 1}/{len(self.waves)}) started: "
                f"{len(wave.sites)} site(s)",
            )

    def track(self) -> None:
        """Record the target's new failures, and who is on the way to Ready (since
        when: a site found at the target, or back from offline, starts its clock)."""
        inflight, failed_now = {}, {}
        for site in self.views.values():
            if site.revision != self.state.revision or not site.reachable:
                continue
            if site.name in self.failed:
                continue
            since = self.inflight.get(site.name, self.now)
            if why := self.failure(site, since):
                failed_now[site.name] = why
            elif not site.ready:
                inflight[site.name] = since
        self.inflight = inflight
        if failed_now:
            self.failed.update(failed_now)
            self.tell(
                "RolloutSitesFailed",
                f"{len(failed_now)} site(s) failed at revision {self.state.revision}: "
                + _named(failed_now),
            )

    def failure(self, site: SiteView, since: float) -> str | None:
        limit, deadline = self.strategy.max_restarts, self.strategy.progress_deadline_seconds
        if site.failure:
            return site.failure
        if limit is not None and site.restarts > limit:
            return f"restarted {site.restarts} times (gates.maxRestarts {limit})"
        if not site.ready and self.now - since >= deadline:
            waited = f"{self.now - since:.0f} s"
            return f"not Ready {waited} after the update (progressDeadlineSeconds {deadline:.0f})"
        return None

    def judge(self) -> bool:
        """Fail the rollout when a wave has more failed sites than it tolerates;
        True when it goes on."""
        for wave in self.waves[: self.wave + 1]:
            failed = {s: self.failed[s] for s in wave.sites if s in self.failed}
            allowed = self.strategy.failure_threshold.of(len(wave.sites))
            if len(failed) > allowed:
                self.fail(wave, failed, allowed)
                return False
        return True

    def fail(self, wave: Wave, failed: Mapping[str, str], allowed: int) -> None:
        why = (
            f"wave {wave.name} failed: {len(failed)} of {len(wave.sites)} site(s) failed "
            f"(failureThreshold {self.strategy.failure_threshold} allows {allowed}): "
            + _named(failed)
        )
        if self.strategy.auto_rollback:
            self.go(Event.FAIL_ROLLBACK, f"{why}; rolled back to revision {self.stable}")
            self.roll_back()
        else:
            name = self.strategy.application or "APP"
            self.go(Event.FAIL_HALT, f"{why}; halted: `edgeplane rollout abort {name}` rolls back")

    def advance(self) -> None:
        if self.controls.paused:
            if self.phase is not Phase.PAUSED:
                self.go(Event.PAUSE, f"paused in wave {self.wave_name()}")
            self.wave_passes()  # the soak clock keeps running while paused
            return
        if self.phase is Phase.PAUSED:
            self.go(Event.RESUME, f"resumed in wave {self.wave_name()}")
        while self.wave < len(self.waves):
            if not self.approved():
                return
            if not self.wave_passes():
                self.move(self.candidates(), per_wave=True)
                return
            self.pass_wave()
        self.stable = self.state.revision
        self.go(Event.COMPLETE, f"revision {self.state.revision} succeeded: every wave passed")
        self.catch_up()

    def approved(self) -> bool:
        wave = self.waves[self.wave]
        waits = wave.spec.require_approval and bool(wave.sites)
        if waits and self.wave not in self.controls.approved:
            if self.phase is not Phase.AWAITING_APPROVAL:
                name = self.strategy.application or "APP"
                self.go(
                    Event.AWAIT_APPROVAL,
                    f"wave {wave.name} awaits approval: "
                    f"`edgeplane rollout approve {name} --wave {wave.name}`",
                )
            return False
        if self.phase is Phase.AWAITING_APPROVAL:
            self.go(Event.APPROVE, f"wave {wave.name} approved")
        return True

    def wave_passes(self) -> bool:
        """Whether the current wave is done: every site it can update runs the target
        and is Ready (failed ones tolerated), for the soak time or promoted."""
        target, wave = self.state.revision, self.waves[self.wave]
        views = [self.views[name] for name in wave.sites if name not in self.failed]
        live = [site for site in views if site.reachable]
        behind = [s for s in live if s.revision != target and s.window_open]
        updated = [site for site in live if site.revision == target]
        if behind or any(not site.ready for site in updated):
            self.soak_started_at = None
            return False
        if not updated:
            return True  # nothing updated here to soak (empty, offline, out of window)
        if self.soak_started_at is None:
            self.soak_started_at = self.now
        soaked = self.now - self.soak_started_at >= self.strategy.min_success_seconds
        return soaked or self.controls.promote == self.wave

    def pass_wave(self) -> None:
        wave = self.waves[self.wave]
        promoted = self.controls.promote == self.wave and self.soak_started_at is not None
        self.go(Event.WAVE_PASSED, f"wave {wave.name} passed" + (" (promoted)" if promoted else ""))
        self.passed_at.append(self.now)
        self.wave += 1
        self.start_wave()

    def candidates(self) -> list[SiteView]:
        """Sites of the current and passed waves that still run another revision."""
        target = self.state.revision
        return [
            self.views[name]
            for wave in self.waves[: self.wave + 1]
            for name in wave.sites
            if self.views[name].revision not in (None, target) and name not in self.failed
        ]

    def move(self, sites: Sequence[SiteView], per_wave: bool) -> None:
        budget = Budget(self.strategy, self.views, self.waves if per_wave else (), self.failed)
        for site in sites:
            if not site.reachable or not site.window_open:
                continue
            if site.ready and not budget.spend(site.name):
                self.held.add(site.name)
                continue
            self.revisions[site.name] = self.state.revision
            if self.phase.active:
                self.inflight[site.name] = self.now

    def wave_name(self) -> str:
        return self.waves[self.wave].name if self.wave < len(self.waves) else "-"

    # --- the result ------------------------------------------------------------

    def result(self) -> Step:
        state = replace(
            self.state,
            stable=self.stable,
            phase=self.phase,
            wave=self.wave,
            wave_started_at=self.wave_started_at,
            soak_started_at=self.soak_started_at,
            inflight=self.inflight if self.phase.active else {},
            failed=self.failed,
            finished_at=self.finished_at,
            story=(*self.state.story, *self.lines)[-MAX_STORY:],
            passed_at=tuple(self.passed_at),
        )
        summary = summarize(state, self.strategy, self.waves, self.views, self.revisions, self.held)
        return Step(state, self.revisions, tuple(self.events), self.wake_at(state), summary)

    def wake_at(self, state: RolloutState) -> float | None:
        times: list[float] = []
        if state.phase is Phase.PROGRESSING and state.soak_started_at is not None:
            times.append(state.soak_started_at + self.strategy.min_success_seconds)
        if state.phase.active:
            deadline = self.strategy.progress_deadline_seconds
            times.extend(at + deadline for at in state.inflight.values())
        times.extend(
            site.window_opens_at
            for site in self.views.values()
            if site.window_opens_at is not None and self.revisions[site.name] != state.revision
        )
        return min((at for at in times if at > self.now), default=None)


def _named(reasons: Mapping[str, str]) -> str:
    named = [f"{site} ({why})" for site, why in sorted(reasons.items())[:MAX_NAMED]]
    more = len(reasons) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")
