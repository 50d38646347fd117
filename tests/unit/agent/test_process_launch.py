"""The pure rules of launching a process workload: ``$(VAR)`` expansion, variable
names, ports, environment, working directory and command resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes.process.launch import (
    allocate_ports,
    expand,
    inherited_env,
    plan_launch,
    port_env,
    variable_name,
    workload_env,
)

ENV = {"A": "1", "NAME": "web"}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)", "1"),
        ("x-$(NAME)-$(A)", "x-web-1"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$$", "$"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("$()", "$()"),
        ("plain", "plain"),
    ],
    ids=[
        "var",
        "several",
        "unknown-literal",
        "escaped",
        "escape-then-var",
        "dollar-dollar",
        "unclosed",
        "shell-style-untouched",
        "empty-name",
        "plain",
    ],
)
def test_expand_like_kubernetes(text: str, expanded: str) -> None:
    assert expand(text, ENV) == expanded


@pytest.mark.parametrize(
    ("name", "variable"),
    [("http", "HTTP"), ("admin-api", "ADMIN_API"), ("model.v2", "MODEL_V2")],
    ids=["plain", "dash", "dot"],
)
def test_variable_names(name: str, variable: str) -> None:
    assert variable_name(name) == variable


def test_ports_keep_numbers_reuse_previous_and_pick_free_ones() -> None:
    ports: list[dict[str, Any]] = [{"name": "http"}, {"name": "metrics", "port": 9100}, {}]
    picks = iter([5001, 5002])
    allocated = allocate_ports(ports, {"http": 4000}, lambda: next(picks))
    assert allocated == {"http": 4000, "metrics": 9100, "#2": 5001}
    assert port_env(ports, allocated) == {
        "PORT": "4000",
        "PORT_HTTP": "4000",
        "PORT_METRICS": "9100",
    }


def test_free_ports_are_real_and_distinct() -> None:
    allocated = allocate_ports([{"name": "a"}, {"name": "b"}], {})
    assert all(1024 <= p <= 65535 for p in allocated.values())


@pytest.mark.parametrize(
    "env",
    [[{"name": "X", "value": "1"}, {"name": "EMPTY"}], {"X": "1", "EMPTY": ""}],
    ids=["list", "map"],
)
def test_env_either_spelling(env: Any) -> None:
    assert workload_env({"env": env}) == {"X": "1", "EMPTY": ""}


def test_plan_launch_env_order_and_expansion(tmp_path: Path) -> None:
    model = tmp_path / "model"
    workload = {
        "command": "./bin/serve",
        "args": ["--port=$(PORT_HTTP)", "--model=$(EDGEPLANE_ARTIFACT_SHELF_MODEL)", "$(NOPE)"],
        "env": [{"name": "GREETING", "value": "hi"}, {"name": "PATH", "value": "/opt/bin"}],
        "ports": [{"name": "http"}],
        "artifacts": [{"name": "shelf-model", "version": "1"}],
    }
    launch = plan_launch(
        workload,
        {"shelf-model": model},
        {"http": 4321},
        tmp_path / "own",
        {"PATH": "/usr/bin", "HOME": "/root"},
    )
    assert launch.cwd == model
    assert launch.argv == [
        str(model / "bin/serve"),
        "--port=4321",
        f"--model={model}",
        "$(NOPE)",
    ]
    assert launch.env["PORT"] == "4321"
    assert launch.env["HOME"] == "/root"
    assert launch.env["PATH"] == "/opt/bin"  # the workload's own variables win
    assert launch.env["GREETING"] == "hi"


@pytest.mark.parametrize(
    ("workload", "cwd", "command"),
    [
        ({"command": "python3"}, "own", "python3"),
        ({"command": "/bin/true"}, "own", "/bin/true"),
        ({"command": "run.sh", "workingDir": "/srv"}, "/srv", "run.sh"),
        ({"command": "./run.sh", "workingDir": "/srv"}, "/srv", "/srv/run.sh"),
        ({"command": "x/run.sh", "workingDir": "sub"}, "own/sub", "own/sub/x/run.sh"),
    ],
    ids=[
        "path-lookup",
        "absolute",
        "bare-name-in-workdir",
        "relative-to-workdir",
        "relative-workdir",
    ],
)
def test_working_dir_and_command(
    tmp_path: Path, workload: dict[str, Any], cwd: str, command: str
) -> None:
    launch = plan_launch(workload, {}, {}, tmp_path / "own", {})
    assert launch.cwd == tmp_path / cwd
    assert launch.argv[0] in (command, str(tmp_path / command))


def test_the_agents_own_settings_are_not_inherited() -> None:
    environ = {"PATH": "/usr/bin", "EDGEPLANE_JOIN_TOKEN": "ep_secret", "EDGEPLANE_X": "1"}
    assert inherited_env(environ) == {"PATH": "/usr/bin"}
