"""``status.rollout`` on the wire: a ``RolloutState`` (with its ``Summary``) to camelCase
JSON and back, and the operator's ``control`` as ``Controls``.

Times are RFC 3339 UTC strings ("2026-12-01T12:00:00Z", fractional seconds when the
time has them). Lists are bounded as ``api`` bounds them; ``control`` is written by the
action route, never here (the hub keeps the stored one). Neighbours: ``model`` (the
values), ``machine`` (which makes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from edgeplane.rollout.model import (
    Controls,
    Phase,
    RolloutState,
    StoryEntry,
    Summary,
    WaveSummary,
)

MAX_WAVES = 64
MAX_REVISIONS = 20
MAX_WAITING = 10
MAX_FAILED_SHOWN = 50
MAX_INFLIGHT = 100_000


def rfc3339(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string; None for anything else (a state
    written by hand must not stop the rollout)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def state_to_wire(state: RolloutState, summary: Summary) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "revision": state.revision,
        "stableRevision": state.stable,
        "phase": str(state.phase),
        "wave": state.wave,
        "waves": [_wave_to_wire(wave) for wave in summary.waves[:MAX_WAVES]],
        "revisions": [
            {"revision": count.revision, "sites": count.sites, "ready": count.ready}
            for count in summary.revisions[:MAX_REVISIONS]
        ],
        "message": summary.message,
        "waiting": list(summary.waiting[:MAX_WAITING]),
        "failed": [
            {"site": site, "reason": reason}
            for site, reason in sorted(state.failed.items())[:MAX_FAILED_SHOWN]
        ],
        "inflight": {
            site: rfc3339(at) for site, at in sorted(state.inflight.items())[:MAX_INFLIGHT]
        },
        "startedAt": rfc3339(state.started_at),
        "finishedAt": _time(state.finished_at),
        "waveStartedAt": _time(state.wave_started_at),
        "soakStartedAt": _time(state.soak_started_at),
        "story": [{"time": rfc3339(line.time), "message": line.message} for line in state.story],
    }
    return {key: value for key, value in wire.items() if value is not None}


def _time(at: float | None) -> str | None:
    return None if at is None else rfc3339(at)


def _wave_to_wire(wave: WaveSummary) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "name": wave.name,
        "sites": wave.sites,
        "updated": wave.updated,
        "ready": wave.ready,
        "failed": wave.failed,
        "skipped": wave.skipped,
        "waiting": wave.waiting,
        "phase": str(wave.phase),
        "startedAt": _time(wave.started_at),
        "passedAt": _time(wave.passed_at),
    }
    return {key: value for key, value in wire.items() if value is not None}


def state_from_wire(data: Mapping[str, Any] | None) -> RolloutState | None:
    """The state ``status.rollout`` holds; None when there is none (or no usable
    target revision or phase: the hub then begins afresh)."""
    if not data or not isinstance(data.get("revision"), int):
        return None
    try:
        phase = Phase(str(data.get("phase")))
    except ValueError:
        return None
    stable = data.get("stableRevision")
    return RolloutState(
        revision=data["revision"],
        stable=stable if isinstance(stable, int) else None,
        phase=phase,
        wave=int(data.get("wave") or 0),
        wave_started_at=parse_time(data.get("waveStartedAt")),
        soak_started_at=parse_time(data.get("soakStartedAt")),
        inflight=_inflight(data.get("inflight")),
        failed=_failed(data.get("failed")),
        started_at=parse_time(data.get("startedAt")) or 0.0,
        finished_at=parse_time(data.get("finishedAt")),
        story=_story(data.get("story")),
        passed_at=_passed(data.get("waves")),
    )


def _inflight(raw: Any) -> dict[str, float]:
    pairs = ((site, parse_time(at)) for site, at in (raw or {}).items())
    return {site: at for site, at in pairs if at is not None}


def _failed(raw: Any) -> dict[str, str]:
    return {
        entry["site"]: str(entry.get("reason") or "failed")
        for entry in raw or ()
        if isinstance(entry, Mapping) and isinstance(entry.get("site"), str)
    }


def _story(raw: Any) -> tuple[StoryEntry, ...]:
    entries = (
        (parse_time(entry.get("time")), entry.get("message"))
        for entry in raw or ()
        if isinstance(entry, Mapping)
    )
    return tuple(StoryEntry(at, message) for at, message in entries if at is not None and message)


def _passed(raw: Any) -> tuple[float, ...]:
    times = []
    for wave in raw or ():
        at = parse_time(wave.get("passedAt")) if isinstance(wave, Mapping) else None
        if at is None:
            break
        times.append(at)
    return tuple(times)


def controls_from_wire(rollout: Mapping[str, Any] | None, revision: int) -> Controls:
    """The operator's controls in ``status.rollout.control``, if they are for
    ``revision`` (controls of an earlier target say nothing about this one)."""
    control = (rollout or {}).get("control")
    if not isinstance(control, Mapping) or control.get("revision") != revision:
        return Controls()
    promote = control.get("promote")
    return Controls(
        paused=bool(control.get("paused", False)),
        promote=promote if isinstance(promote, int) and not isinstance(promote, bool) else None,
        approved=frozenset(i for i in control.get("approved") or () if isinstance(i, int)),
        abort=bool(control.get("abort", False)),
    )
