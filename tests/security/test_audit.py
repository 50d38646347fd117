"""The audit log on a real hub (issue 19): every write and every denied request is
recorded with who, what, when and the outcome; reads that pass are not; the file's
hash chain verifies with ``edgeplane audit verify``, which names a changed or deleted
entry, and ``--against-hub`` notices entries cut off the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from edgeplane.cli import app
from tests.security.objects import API, APP
from tests.support.hub import HubProcess


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _verify(hub: HubProcess, path: Path, *args: str) -> Result:
    env = {
        "EDGEPLANE_SERVER": hub.url,
        "EDGEPLANE_TOKEN": hub.token,
        "EDGEPLANE_CONFIG": "/dev/null",
    }
    return CliRunner().invoke(app, ["audit", "verify", str(path), *args], env=env)


def _requests(hub: HubProcess) -> None:
    with httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10) as admin:
        assert admin.post(f"{API}/applications", json=APP).status_code == 201
        assert admin.get(f"{API}/applications").status_code == 200  # a read: not kept
        made = admin.post(f"{API}/tokens", json={"subject": "vera", "role": "viewer"})
        viewer = {"Authorization": f"Bearer {made.json()['token']}"}
        assert admin.delete(f"{API}/applications/web").status_code == 200
    with httpx.Client(base_url=hub.url, headers=viewer, timeout=10) as vera:
        assert vera.post(f"{API}/applications", json=APP).status_code == 403
        assert vera.get(f"{API}/tokens").status_code == 403  # a denied read: kept
        assert vera.get(f"{API}/sites").status_code == 200
    assert httpx.get(f"{hub.url}{API}/sites", timeout=10).status_code == 401


def test_writes_and_denials_are_recorded_with_who_and_how(hub: HubProcess) -> None:
    _requests(hub)
    entries = _entries(hub.data_dir / "audit.log")
    seen = [
        (e["subject"], e["role"], e["method"], e["path"], e["status"], e["outcome"])
        for e in entries
    ]
    assert seen == [
        ("admin", "admin", "POST", f"{API}/applications", 201, "allowed"),
        ("admin", "admin", "POST", f"{API}/tokens", 201, "allowed"),
        ("admin", "admin", "DELETE", f"{API}/applications/web", 200, "allowed"),
        ("vera", "viewer", "POST", f"{API}/applications", 403, "denied"),
        ("vera", "viewer", "GET", f"{API}/tokens", 403, "denied"),
        (None, "anonymous", "GET", f"{API}/sites", 401, "denied"),
    ]
    assert [e["seq"] for e in entries] == list(range(1, 7))
    assert all(e["time"].endswith("Z") and e["peer"] == "127.0.0.1" for e in entries)
    token_text = json.dumps(entries)
    assert "ep_" not in token_text, "a token's secret reached the audit log"


def test_verify_finds_a_changed_and_a_deleted_entry(hub: HubProcess, tmp_path: Path) -> None:
    _requests(hub)
    path = hub.data_dir / "audit.log"
    whole = _verify(hub, path, "--against-hub")
    assert whole.exit_code == 0, whole.output
    assert "6 entries, chain whole" in whole.output
    lines = path.read_text().splitlines()

    changed = tmp_path / "changed.log"
    changed.write_text(
        "\n".join([*lines[:3], lines[3].replace('"vera"', '"olga"'), *lines[4:]]) + "\n"
    )
    answer = _verify(hub, changed)
    assert answer.exit_code == 1
    assert "line 4: entry 4 was changed" in answer.output

    deleted = tmp_path / "deleted.log"
    deleted.write_text("\n".join([*lines[:1], *lines[2:]]) + "\n")
    answer = _verify(hub, deleted)
    assert answer.exit_code == 1
    assert "line 2: entry 3 does not follow entry 1" in answer.output

    cut = tmp_path / "cut.log"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    assert _verify(hub, cut).exit_code == 0  # whole, but shorter than the hub's
    answer = _verify(hub, cut, "--against-hub")
    assert answer.exit_code == 1 and "ends at entry 5, the hub's log at entry 6" in answer.output
