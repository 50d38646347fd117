"""How ``edgeplane rollout`` shows a rollout: pure functions from an Application's
``status.rollout`` (a wire dict) to rich renderables, and from the Application to the
command's outcome. No I/O: ``cli.rollouts`` asks the hub and prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from edgeplane.cli.output import cell

SUCCEEDED = "Succeeded"
UNDONE = frozenset({"RolledBack", "Aborted", "Failed"})
"""Phases ``status -w`` ends on with exit code 1: the new revision did not make it."""
BAR_WIDTH = 24
SHOWN_FAILED = 10
"""Failed sites listed under the waves (the status keeps up to 50)."""
WAVE_COLUMNS = ("WAVE", "PHASE", "PROGRESS", "UPDATED", "READY", "FAILED", "SKIPPED", "SITES")


def outcome(app: Mapping[str, Any]) -> int | None:
    """The exit code ``status -w`` ends with: 0 Succeeded, 1 rolled back, aborted or
    failed; None while the rollout goes on, or while its status is older than the spec
    (it was just changed: the status shown may be the previous rollout's)."""
    status = app.get("status") or {}
    rollout = status.get("rollout")
    if not isinstance(rollout, Mapping):
        return None
    if status.get("observedGeneration") != app.get("metadata", {}).get("generation"):
        return None
    phase = rollout.get("phase")
    return 0 if phase == SUCCEEDED else 1 if phase in UNDONE else None


def headline(name: str, rollout: Mapping[str, Any]) -> Text:
    """``web: revision 3 (stable 2) Progressing, wave 2/3 (eu)``."""
    stable = rollout.get("stableRevision")
    text = Text(f"{name}: revision {rollout.get('revision')}")
    if stable is not None and stable != rollout.get("revision"):
        text.append(f" (stable {stable})")
    text.append(" ")
    text.append(str(rollout.get("phase")), style=_phase_style(rollout.get("phase")))
    waves: Sequence[Mapping[str, Any]] = rollout.get("waves") or []
    index = rollout.get("wave")
    if isinstance(index, int) and 0 <= index < len(waves) and rollout.get("phase") != SUCCEEDED:
        text.append(f", wave {index + 1}/{len(waves)} ({waves[index].get('name')})")
    return text


def _phase_style(phase: Any) -> str:
    if phase in (SUCCEEDED, "Passed"):
        return "green"
    if phase in UNDONE:
        return "red"
    return "yellow" if phase in ("Paused", "AwaitingApproval", "Waiting") else ""


def _count(wave: Mapping[str, Any], key: str) -> int:
    value = wave.get(key)
    return value if isinstance(value, int) else 0


def wave_table(waves: Sequence[Mapping[str, Any]]) -> Table:
    """One row per wave, with a bar of its Ready sites out of all of them."""
    grid = Table(box=None, show_edge=False, pad_edge=False)
    for title in WAVE_COLUMNS:
        grid.add_column(title, no_wrap=True)
    for wave in waves:
        sites = _count(wave, "sites")
        bar = ProgressBar(total=max(sites, 1), completed=_count(wave, "ready"), width=BAR_WIDTH)
        phase = str(wave.get("phase") or "Pending")
        counts = (str(_count(wave, k)) for k in ("updated", "ready", "failed", "skipped"))
        name = cell(str(wave.get("name")))
        grid.add_row(name, Text(phase, style=_phase_style(phase)), bar, *counts, str(sites))
    return grid


def revision_counts(rollout: Mapping[str, Any]) -> str:
    """``r3 2/4 ready, r2 6/6 ready``: the sites at each revision, newest first."""
    counts = [c for c in rollout.get("revisions") or [] if isinstance(c, Mapping)]
    counts.sort(key=lambda c: c.get("revision") or 0, reverse=True)
    return ", ".join(
        f"r{c.get('revision')} {c.get('ready') or 0}/{c.get('sites') or 0} ready" for c in counts
    )


def details(rollout: Mapping[str, Any]) -> list[Text]:
    """What the rollout says beside the waves: its message, the counts per revision, why
    sites wait, and the failed sites (the first few)."""
    lines = [Text(f"  {rollout['message']}")] if rollout.get("message") else []
    if counts := revision_counts(rollout):
        lines.append(Text(f"  sites: {counts}"))
    lines += [Text(f"  waiting: {reason}") for reason in rollout.get("waiting") or []]
    failed = [f for f in rollout.get("failed") or [] if isinstance(f, Mapping)]
    for one in failed[:SHOWN_FAILED]:
        lines.append(Text(f"  failed: {one.get('site')}: {one.get('reason')}", style="red"))
    if len(failed) > SHOWN_FAILED:
        lines.append(Text(f"  ... and {len(failed) - SHOWN_FAILED} more failed site(s)"))
    return lines


def rollout_view(name: str, rollout: Mapping[str, Any] | None) -> RenderableType:
    """Everything ``rollout status`` shows of one application's rollout."""
    if rollout is None:
        return Text(f"{name}: no rollout yet (the hub has not placed this application)")
    parts: list[RenderableType] = [headline(name, rollout)]
    if waves := [w for w in rollout.get("waves") or [] if isinstance(w, Mapping)]:
        parts.append(wave_table(waves))
    parts += details(rollout)
    return Group(*parts)


def changed_keys(newer: Mapping[str, Any], older: Mapping[str, Any] | None) -> str:
    """What a revision changed of the one before it: ``workload, resources``."""
    if older is None:
        return "initial"
    keys = ("workload", "resources", "overrides")
    changed = [k for k in keys if newer.get(k) != older.get(k)]
    return ", ".join(changed) or "same template"


def history_rows(
    revisions: Sequence[Mapping[str, Any]], rollout: Mapping[str, Any] | None
) -> list[tuple[str, str, str, str]]:
    """REVISION, CREATED, SITES, CHANGE of each revision (newest first, as listed)."""
    counts = {c.get("revision"): c for c in (rollout or {}).get("revisions") or []}
    marks = {(rollout or {}).get("stableRevision"): " (stable)"}
    marks[(rollout or {}).get("revision")] = " (target)"
    rows = []
    for i, revision in enumerate(revisions):
        spec = revision.get("spec") or {}
        number = spec.get("revision")
        older = revisions[i + 1].get("spec") if i + 1 < len(revisions) else None
        template, before = spec.get("template") or {}, (older or {}).get("template")
        what = changed_keys(template, before) if before or number == 1 else "(older pruned)"
        change = f"{str(spec.get('hash'))[:12]} {what}"
        count = counts.get(number)
        sites = f"{count.get('ready') or 0}/{count.get('sites') or 0}" if count else "-"
        label = f"{number}{marks.get(number, '')}"
        rows.append((label, str(spec.get("createdAt") or "-"), sites, change))
    return rows
