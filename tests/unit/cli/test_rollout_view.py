"""``edgeplane rollout``'s view (``cli.rolloutview``) from status dicts, and the commands'
exit codes and lines over a mocked hub (``status -w`` ending on each phase, a timeout,
the actions' answers)."""

from __future__ import annotations

import io
import itertools
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from rich.console import Console, RenderableType

from edgeplane.cli import rollouts
from edgeplane.cli.rolloutview import (
    changed_keys,
    history_rows,
    outcome,
    revision_counts,
    rollout_view,
)
from tests.unit.cli.conftest import Handler, MockCli

WAVES = [
    {"name": "canary", "sites": 2, "updated": 2, "ready": 2, "phase": "Passed"},
    {"name": "rest", "sites": 8, "updated": 3, "ready": 2, "failed": 1, "phase": "Progressing"},
]


def rollout(phase: str = "Progressing", **extra: Any) -> dict[str, Any]:
    return {"revision": 3, "stableRevision": 2, "phase": phase, "wave": 1, "waves": WAVES} | extra


def app(status_rollout: dict[str, Any] | None, generation: int = 4, seen: int = 4) -> Any:
    status = {"observedGeneration": seen} | ({"rollout": status_rollout} if status_rollout else {})
    return {"kind": "Application", "metadata": {"name": "web", "generation": generation}} | {
        "status": status
    }


def text(renderable: RenderableType) -> list[str]:
    console = Console(width=120, file=io.StringIO(), color_system=None)
    console.print(renderable)
    assert isinstance(console.file, io.StringIO)
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        (app(rollout("Succeeded")), 0),
        (app(rollout("RolledBack")), 1),
        (app(rollout("Aborted")), 1),
        (app(rollout("Failed")), 1),
        (app(rollout("Progressing")), None),
        (app(rollout("Paused")), None),
        (app(rollout("AwaitingApproval")), None),
        (app(None), None),
        (app(rollout("Succeeded"), generation=5, seen=4), None),
    ],
    ids=[
        "succeeded",
        "rolled-back",
        "aborted",
        "failed",
        "progressing",
        "paused",
        "awaiting-approval",
        "no-rollout-yet",
        "status-of-an-older-spec",
    ],
)
def test_outcome(obj: Any, code: int | None) -> None:
    assert outcome(obj) == code


def test_the_view_has_a_headline_a_row_and_a_bar_per_wave() -> None:
    failed = [{"site": "s7", "reason": "exited with 1"}]
    shown = text(rollout_view("web", rollout(message="wave rest updating", failed=failed)))
    assert shown[0] == "web: revision 3 (stable 2) Progressing, wave 2/2 (rest)"
    assert shown[1].split() == [
        "WAVE",
        "PHASE",
        "PROGRESS",
        "UPDATED",
        "READY",
        "FAILED",
        "SKIPPED",
        "SITES",
    ]
    canary, rest = shown[2].split(), shown[3].split()
    assert canary[:2] == ["canary", "Passed"] and canary[-5:] == ["2", "2", "0", "0", "2"]
    assert rest[:2] == ["rest", "Progressing"] and rest[-5:] == ["3", "2", "1", "0", "8"]
    assert "━" in shown[2] and "━" in shown[3]
    assert shown[4:] == ["  wave rest updating", "  failed: s7: exited with 1"]


@pytest.mark.parametrize(
    ("status", "first"),
    [
        (None, "web: no rollout yet (the hub has not placed this application)"),
        (rollout("Succeeded", stableRevision=3), "web: revision 3 Succeeded"),
        (rollout("RolledBack"), "web: revision 3 (stable 2) RolledBack, wave 2/2 (rest)"),
        ({"revision": 1, "phase": "Succeeded"}, "web: revision 1 Succeeded"),
    ],
    ids=["none", "succeeded", "rolled-back", "no-waves"],
)
def test_the_headline(status: dict[str, Any] | None, first: str) -> None:
    assert text(rollout_view("web", status))[0] == first


def test_waiting_reasons_and_counts_per_revision_are_shown() -> None:
    waiting = ["2 site(s) outside their maintenance window (next opens 2026-12-02T02:00:00Z)"]
    counts = [{"revision": 2, "sites": 6, "ready": 6}, {"revision": 3, "sites": 4, "ready": 2}]
    shown = text(rollout_view("web", rollout(waiting=waiting, revisions=counts)))
    assert "  sites: r3 2/4 ready, r2 6/6 ready" in shown
    assert f"  waiting: {waiting[0]}" in shown


def test_many_failed_sites_are_cut_short() -> None:
    failed = [{"site": f"s{i}", "reason": "exited"} for i in range(25)]
    shown = text(rollout_view("web", rollout(failed=failed)))
    assert sum(line.startswith("  failed: ") for line in shown) == 10
    assert shown[-1] == "  ... and 15 more failed site(s)"


def test_a_site_name_cannot_drive_the_terminal() -> None:
    waves = [{"name": "a\x1b]52;c;x\x07", "sites": 1}]
    assert "\x1b" not in "".join(text(rollout_view("web", rollout(waves=waves))))


def test_revision_counts_without_any() -> None:
    assert revision_counts(rollout()) == ""


@pytest.mark.parametrize(
    ("newer", "older", "said"),
    [
        ({"workload": 1}, None, "initial"),
        ({"workload": 2}, {"workload": 1}, "workload"),
        ({"workload": 1, "resources": 1}, {"workload": 1}, "resources"),
        ({"workload": 1}, {"workload": 1, "overrides": []}, "overrides"),
        ({"workload": 1}, {"workload": 1}, "same template"),
    ],
    ids=["first", "workload", "resources-added", "overrides-removed", "same"],
)
def test_changed_keys(newer: dict[str, Any], older: dict[str, Any] | None, said: str) -> None:
    assert changed_keys(newer, older) == said


def revision(number: int, workload: str) -> dict[str, Any]:
    spec = {"revision": number, "hash": f"{number:x}" * 64, "createdAt": f"2026-12-0{number}"}
    return {"spec": spec | {"template": {"workload": workload}}}


def test_history_rows_mark_target_and_stable_and_count_sites() -> None:
    listed = [revision(3, "v3"), revision(2, "v2"), revision(1, "v2")]
    counts = [{"revision": 3, "sites": 4, "ready": 1}]
    assert history_rows(listed, rollout(revisions=counts)) == [
        ("3 (target)", "2026-12-03", "1/4", "333333333333 workload"),
        ("2 (stable)", "2026-12-02", "-", "222222222222 same template"),
        ("1", "2026-12-01", "-", "111111111111 initial"),
    ]
    assert history_rows([revision(5, "v5")], None)[0][3] == "555555555555 (older pruned)"


def answers(*bodies: Any) -> Handler:
    """A hub answering each GET with the next body (the last one again at the end)."""
    supply: Iterator[Any] = itertools.chain(bodies, itertools.repeat(bodies[-1]))
    return lambda request: httpx.Response(200, json=next(supply))


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """``status -w`` polls without sleeping; ``step(s)``: each look advances the clock s."""
    clock = {"now": 0.0, "step": 0.0}

    def monotonic() -> float:
        clock["now"] += clock["step"]
        return clock["now"]

    fake = types.SimpleNamespace(monotonic=monotonic, sleep=lambda seconds: None)
    monkeypatch.setattr(rollouts, "time", fake)
    return lambda step: clock.update(step=step)


@pytest.mark.parametrize(
    ("last", "code"),
    [("Succeeded", 0), ("RolledBack", 1), ("Aborted", 1), ("Failed", 1)],
    ids=["succeeded", "rolled-back", "aborted", "failed"],
)
def test_status_watch_exits_on_the_final_phase(
    mock_cli: Callable[[Handler], MockCli],
    no_waiting: Callable[[float], None],
    last: str,
    code: int,
) -> None:
    run = mock_cli(answers(app(None), app(rollout()), app(rollout(last))))
    result = run("rollout", "status", "web", "-w")
    assert result.exit_code == code, result.output
    assert result.stdout.splitlines()[0].startswith(f"web: revision 3 (stable 2) {last}")


def test_status_watch_times_out_with_2(
    mock_cli: Callable[[Handler], MockCli], no_waiting: Callable[[float], None]
) -> None:
    no_waiting(30.0)
    result = mock_cli(answers(app(rollout())))("rollout", "status", "web", "-w", "--timeout", "2m")
    assert result.exit_code == 2
    assert "did not end within 2m" in result.stderr
    assert result.stdout.splitlines()[0].startswith("web: revision 3 (stable 2) Progressing")


@pytest.mark.parametrize("timeout", ["0", "ten", "5d", "-1m"], ids=["zero", "word", "days", "neg"])
def test_a_bad_timeout_is_a_usage_error(
    mock_cli: Callable[[Handler], MockCli], timeout: str
) -> None:
    result = mock_cli(answers(app(rollout())))("rollout", "status", "web", "--timeout", timeout)
    assert result.exit_code == 2 and "--timeout" in result.stderr


def test_status_without_watch_prints_once_and_exits_0(
    mock_cli: Callable[[Handler], MockCli],
) -> None:
    result = mock_cli(answers(app(rollout("RolledBack"))))("rollout", "status", "web")
    assert result.exit_code == 0
    assert result.stdout.startswith("web: revision 3 (stable 2) RolledBack")
    as_json = mock_cli(answers(app(rollout())))("rollout", "status", "web", "-o", "json")
    assert json.loads(as_json.stdout)["phase"] == "Progressing"


@pytest.mark.parametrize(
    ("args", "sent", "said"),
    [
        (("pause",), {"action": "pause"}, "web: rollout of revision 3 paused"),
        (("approve",), {"action": "approve"}, "web: rollout of revision 3 approved: wave rest"),
        (
            ("approve", "--wave", "canary"),
            {"action": "approve", "wave": "canary"},
            "web: rollout of revision 3 approved: wave canary",
        ),
        (("promote",), {"action": "promote"}, "web: rollout of revision 3 promoted: wave rest"),
        (("undo", "--to-revision", "2"), {"action": "undo", "toRevision": 2}, "web: set back"),
    ],
    ids=["pause", "approve-current", "approve-named", "promote", "undo"],
)
def test_actions_send_what_was_asked(
    mock_cli: Callable[[Handler], MockCli], args: tuple[str, ...], sent: Any, said: str
) -> None:
    bodies: list[Any] = []

    def hub(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(202, json=rollout(toRevision=2))

    result = mock_cli(hub)("rollout", args[0], "web", *args[1:])
    assert result.exit_code == 0, result.output
    assert bodies == [sent]
    assert result.stdout.startswith(said)


def test_a_refused_action_is_one_line_and_exit_1(mock_cli: Callable[[Handler], MockCli]) -> None:
    message = "wave: Application 'web' has no wave 'x': its waves are 0 (canary)"

    def hub(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"reason": "Invalid", "message": message})

    result = mock_cli(hub)("rollout", "approve", "web", "--wave", "x")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: wave: Application 'web' has no wave 'x': its waves are 0 (canary)\n"
    )
