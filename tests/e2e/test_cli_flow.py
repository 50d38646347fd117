"""The CLI as a user runs it: the real ``edgeplane`` binary against a real hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.hub import HubProcess, running_hub
from tests.support.ports import free_port

BIN = str(Path(sys.executable).parent / "edgeplane")

APP = """\
apiVersion: edgeplane.io/v1alpha1
kind: Application
metadata: {name: web, labels: {team: retail}}
spec:
  workload: {process: {command: python3}}
  placement: {mode: Replicas, replicas: 2}
---
apiVersion: edgeplane.io/v1alpha1
kind: Site
metadata: {name: s1, labels: {region: eu-west}}
spec: {runtime: process}
---
apiVersion: edgeplane.io/v1alpha1
kind: Site
metadata: {name: s2, labels: {region: us-east}}
spec: {runtime: process}
"""


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with running_hub(tmp_path / "hub") as process:
        yield process


def run(
    hub: HubProcess | None,
    tmp_path: Path,
    *args: str,
    stdin: str | None = None,
    token: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPLANE_")}
    env["EDGEPLANE_CONFIG"] = str(tmp_path / "config.yaml")
    if hub is not None:
        env["EDGEPLANE_SERVER"] = hub.url
        env["EDGEPLANE_TOKEN"] = token or hub.token
    return subprocess.run(
        [BIN, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_created_unchanged_configured(hub: HubProcess, tmp_path: Path) -> None:
    manifest = write(tmp_path, "app.yaml", APP)
    first = run(hub, tmp_path, "apply", "-f", manifest)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "application/web created",
        "site/s1 created",
        "site/s2 created",
    ]
    again = run(hub, tmp_path, "apply", "-f", manifest)
    assert again.stdout.splitlines() == [
        "application/web unchanged",
        "site/s1 unchanged",
        "site/s2 unchanged",
    ]
    changed = run(
        hub, tmp_path, "apply", "-f", "-", stdin=APP.replace("replicas: 2", "replicas: 4")
    )
    assert changed.stdout.splitlines()[0] == "application/web configured"
    shown = json.loads(run(hub, tmp_path, "get", "app", "web", "-o", "json").stdout)
    assert shown["spec"]["placement"]["replicas"] == 4
    assert shown["metadata"]["generation"] == 2


def test_get_outputs_round_trip(hub: HubProcess, tmp_path: Path) -> None:
    run(hub, tmp_path, "apply", "-f", write(tmp_path, "app.yaml", APP))
    table = run(hub, tmp_path, "get", "sites")
    assert table.returncode == 0
    assert table.stdout.split()[:3] == ["NAME", "PHASE", "HEARTBEAT"]
    assert "s1" in table.stdout
    wide = run(hub, tmp_path, "get", "sites", "-o", "wide").stdout
    assert "REGION" in wide and "us-east" in wide
    selected = run(hub, tmp_path, "get", "sites", "-l", "region=eu-west", "-o", "name")
    assert selected.stdout.splitlines() == ["site/s1"]
    as_yaml = run(hub, tmp_path, "get", "sites", "-o", "yaml").stdout
    listed = yaml.safe_load(as_yaml)
    assert listed["kind"] == "SiteList"
    assert [o["metadata"]["name"] for o in listed["items"]] == ["s1", "s2"]
    exported = run(hub, tmp_path, "get", "app", "web", "-o", "yaml").stdout
    reapplied = run(hub, tmp_path, "apply", "-f", "-", stdin=exported)
    assert reapplied.stdout.strip() == "application/web unchanged", reapplied.stderr
    described = run(hub, tmp_path, "describe", "app", "web")
    assert "Name:               web" in described.stdout
    assert "replicas: 2" in described.stdout


def test_delete_by_name_and_file(hub: HubProcess, tmp_path: Path) -> None:
    manifest = write(tmp_path, "app.yaml", APP)
    run(hub, tmp_path, "apply", "-f", manifest)
    deleted = run(hub, tmp_path, "delete", "site", "s1")
    assert deleted.stdout.strip() == "site/s1 deleted"
    missing = run(hub, tmp_path, "delete", "site", "s1")
    assert missing.returncode == 1
    assert 'Site "s1" not found' in missing.stderr
    assert run(hub, tmp_path, "delete", "site", "s1", "--ignore-not-found").returncode == 0
    rest = run(hub, tmp_path, "delete", "-f", manifest, "--ignore-not-found")
    assert rest.stdout.splitlines() == ["application/web deleted", "site/s2 deleted"]


BAD = [
    ("malformed-yaml", "kind: Site\nmetadata: {name: [unclosed\n", "malformed YAML"),
    ("unknown-kind", APP.replace("kind: Application", "kind: Widget"), "unknown kind 'Widget'"),
    ("wrong-api-version", APP.replace("edgeplane.io/v1alpha1", "v1", 1), "apiVersion"),
    ("invalid-label", APP.replace("team: retail", "'bad key!': x"), "invalid label key"),
    ("negative-replicas", APP.replace("replicas: 2", "replicas: -2"), "spec.placement.replicas"),
    (
        "unknown-field",
        APP.replace("replicas: 2}", "replicas: 2, replica: 1}"),
        "spec.placement.replica: unknown field",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_exits_1_names_the_field_and_applies_nothing(
    hub: HubProcess, tmp_path: Path, text: str, expected: str
) -> None:
    # The bad document comes after a good one: nothing at all may be applied.
    good = "apiVersion: edgeplane.io/v1alpha1\nkind: Site\nmetadata: {name: first}\n---\n"
    result = run(hub, tmp_path, "apply", "-f", write(tmp_path, "bad.yaml", good + text))
    assert result.returncode == 1
    assert result.stderr.startswith("error:")
    assert expected in result.stderr
    assert "bad.yaml" in result.stderr
    assert run(hub, tmp_path, "get", "sites", "-o", "name").stdout == ""


def test_exit_codes_for_unreachable_and_unauthorized(hub: HubProcess, tmp_path: Path) -> None:
    env_token = "ep_000000000000_not-the-right-secret"
    denied = run(hub, tmp_path, "get", "sites", token=env_token)
    assert denied.returncode == 4
    assert "bearer token" in denied.stderr
    unreachable = run(None, tmp_path, "--server", f"http://127.0.0.1:{free_port()}", "get", "sites")
    assert unreachable.returncode == 3
    assert "cannot reach the hub" in unreachable.stderr
    unknown = run(hub, tmp_path, "get", "widgets")
    assert unknown.returncode == 1 and "unknown kind" in unknown.stderr
    usage = run(hub, tmp_path, "get")
    assert usage.returncode == 2


def test_hub_command_writes_local_context(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPLANE_")}
    env["EDGEPLANE_CONFIG"] = str(tmp_path / "config.yaml")
    hub = subprocess.Popen(
        [BIN, "hub", "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert hub.stdout is not None
        for line in hub.stdout:
            if "listening on" in line:
                break
        assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o600
        contexts = run(None, tmp_path, "config", "get-contexts")
        assert "local" in contexts.stdout and f"127.0.0.1:{port}" in contexts.stdout
        listed = run(None, tmp_path, "get", "sites")
        assert listed.returncode == 0, listed.stderr
        assert "No sites found." in listed.stderr
        version = run(None, tmp_path, "version")
        assert "hub:    0.1.0" in version.stdout
    finally:
        hub.terminate()
        hub.communicate(timeout=20)
    assert hub.returncode == 0


def test_get_watch_prints_changes(hub: HubProcess, tmp_path: Path) -> None:
    run(hub, tmp_path, "apply", "-f", write(tmp_path, "app.yaml", APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPLANE_")}
    env.update(
        EDGEPLANE_SERVER=hub.url,
        EDGEPLANE_TOKEN=hub.token,
        EDGEPLANE_CONFIG=str(tmp_path / "config.yaml"),
    )
    watcher = subprocess.Popen(
        [BIN, "get", "sites", "-w"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        lines = [watcher.stdout.readline() for _ in range(3)]  # header + 2 sites
        assert lines[0].split()[0] == "NAME"
        run(hub, tmp_path, "delete", "site", "s2")
        event = watcher.stdout.readline().split()
        assert event[:2] == ["DELETED", "s2"]
    finally:
        watcher.terminate()
        watcher.communicate(timeout=20)
