"""``edgeplane get -w``: the real binary follows changes until Ctrl-C, which exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeplane.client.hub import HubClient
from tests.support.hub import HubProcess

BIN = str(Path(sys.executable).parent / "edgeplane")
SITE = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": "w1"}}


@pytest.fixture
def watcher(
    hub: HubProcess, client: HubClient, request: pytest.FixtureRequest
) -> Iterator[subprocess.Popen[str]]:
    """``edgeplane get sites -w ARGS`` (ARGS by indirect parametrization)."""
    args: list[str] = request.param
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPLANE_")}
    env.update(EDGEPLANE_SERVER=hub.url, EDGEPLANE_TOKEN=hub.token, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [BIN, "get", "sites", "-w", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


def interrupt(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=20)


@pytest.mark.parametrize("watcher", [["-o", "json"]], indirect=True, ids=["json"])
def test_json_events_as_they_come_and_ctrl_c_exits_0(
    watcher: subprocess.Popen[str], client: HubClient
) -> None:
    assert watcher.stdout is not None
    assert _read_json(watcher) == {  # the initial list; changes follow from its version
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteList",
        "items": [],
    }
    client.create("sites", SITE)
    client.delete("sites", "w1")
    events = [_read_json(watcher) for _ in range(2)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w1"),
        ("DELETED", "w1"),
    ]
    assert interrupt(watcher) == 0


@pytest.mark.parametrize("watcher", [[]], indirect=True, ids=["table"])
def test_table_rows_as_they_come(watcher: subprocess.Popen[str], client: HubClient) -> None:
    assert watcher.stdout is not None and watcher.stderr is not None
    # The initial (empty) list is printed first; the watch resumes from its version,
    # so a change made after it is never missed.
    assert watcher.stderr.readline() == "No sites found.\n"
    client.create("sites", SITE)
    assert watcher.stdout.readline().split()[:2] == ["ADDED", "w1"]
    assert interrupt(watcher) == 0


def _read_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    """One pretty-printed JSON document: lines up to the closing brace at column 0."""
    assert process.stdout is not None
    lines = []
    while (line := process.stdout.readline()) and line != "}\n":
        lines.append(line)
    parsed: dict[str, Any] = json.loads("".join([*lines, "}"]))
    return parsed
