"""Secrets on a real hub (issue 19): sealed at rest (AES-GCM, apart from the objects),
never in an answer (create, replace, get, list, watch), the audit log, the hub's log
or the CLI's output; replaced whole with a new version; keys rotated; bad input refused
naming the field, changing nothing; only admins reach them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from edgeplane.cli import app
from tests.support.hub import HubProcess

API = "/api/v1alpha1"
PASSWORD = "correct-horse-battery-staple-7781"
CERT = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0"
SECRET: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Secret",
    "metadata": {"name": "db", "labels": {"team": "retail"}},
    "stringData": {"password": PASSWORD},
    "data": {"tls.key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2UUlCQURBTkJna3Foa2lHOXcw"},
}
MARKERS = (
    PASSWORD.encode(),
    b"MIIEvQIBADANBgkqhkiG9w0",
    SECRET["data"]["tls.key"].encode(),
)


def _admin(hub: HubProcess) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10)


def _clean(text: bytes | str, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for marker in MARKERS:
        assert marker not in data, f"a secret value is in {where}"


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def _sealed_rows(hub: HubProcess) -> list[tuple[str, str, str]]:
    with sqlite3.connect(hub.data_dir / "edgeplane.db") as db:
        return list(db.execute("SELECT id, name, key_id FROM sealed_values ORDER BY id"))


def test_a_secret_is_never_shown_and_sealed_at_rest(hub: HubProcess) -> None:
    assert CERT  # the value ``data`` carries, base64-encoded
    with _admin(hub) as admin:
        made = admin.post(f"{API}/secrets", json=SECRET)
        assert made.status_code == 201, made.text
        spec = made.json()["spec"]
        assert (spec["keys"], spec["version"]) == (["password", "tls.key"], 1)
        answers = [
            made.text,
            admin.get(f"{API}/secrets/db").text,
            admin.get(f"{API}/secrets").text,
        ]
        params = {"watch": "true", "resourceVersion": "0"}
        with admin.stream("GET", f"{API}/secrets", params=params) as watch:
            for line in watch.iter_lines():
                answers.append(line)
                if '"ADDED"' in line:
                    break
        assert '"ADDED"' in answers[-1]
        replaced = admin.put(
            f"{API}/secrets/db",
            json={**SECRET, "stringData": {"password": PASSWORD + "-2"}, "data": {}},
        )
        assert replaced.status_code == 200, replaced.text
        assert (replaced.json()["spec"]["keys"], replaced.json()["spec"]["version"]) == (
            ["password"],
            2,
        )
        answers.append(replaced.text)
    for answer in answers:
        _clean(answer, "an API answer")
    rows = _sealed_rows(hub)
    assert [r[1] for r in rows] == ["db"], "the first version's row outlived the replace"
    assert rows[0][0] == replaced.json()["spec"]["sealed"]
    env = {
        "EDGEPLANE_SERVER": hub.url,
        "EDGEPLANE_TOKEN": hub.token,
        "EDGEPLANE_CONFIG": "/dev/null",
    }
    for args in (
        ["get", "secrets"],
        ["get", "secret", "db", "-o", "yaml"],
        ["describe", "secret", "db"],
    ):
        shown = CliRunner().invoke(app, args, env=env)
        assert shown.exit_code == 0, (args, shown.output)
        assert "db" in shown.output
        _clean(shown.output, f"`edgeplane {' '.join(args)}`")
    for path in _files(hub.data_dir):  # the database (and its WAL), the audit log, ...
        _clean(path.read_bytes(), str(path))
    _clean(hub.log.read_bytes(), "the hub's log")


def test_rotating_the_key_seals_every_row_again(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        for name in ("db", "api", "tls"):
            body = {**SECRET, "metadata": {"name": name}}
            assert admin.post(f"{API}/secrets", json=body).status_code == 201
        first = {r[2] for r in _sealed_rows(hub)}
        rotated = admin.post(f"{API}/secrets/rotate-key")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["resealed"] == 3
        primary = rotated.json()["primary"]
        assert {r[2] for r in _sealed_rows(hub)} == {primary} != first
        ring = json.loads((hub.data_dir / "secret-keys.json").read_text())
        assert ring["primary"] == primary and first <= set(ring["keys"])
        # Still whole after the rotation: a replace opens nothing, a second rotation
        # opens every row under the new key.
        again = admin.post(f"{API}/secrets/rotate-key")
        assert again.status_code == 200 and again.json()["resealed"] == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"k": "not base64!"}}, "data[k]"),
        ({"stringData": {"a/b": "x"}}, "stringData"),
        ({"stringData": {}, "data": None}, "stringData"),
        ({"spec": {"keys": ["x"]}}, "spec"),
        ({"type": "Opaque"}, "type"),
        ({"stringData": {"big": "x" * (64 * 1024 + 1)}}, "stringData[big]"),
        ({"metadata": {"name": "Bad\n"}}, "metadata.name"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    hub: HubProcess, change: dict[str, Any], field: str
) -> None:
    body = {**SECRET, **change}
    with _admin(hub) as admin:
        answer = admin.post(f"{API}/secrets", json=body)
        assert answer.status_code in (400, 422), answer.text
        assert answer.json()["field"] == field, answer.json()
        assert admin.get(f"{API}/secrets").json()["items"] == []
    assert _sealed_rows(hub) == []


def test_values_are_replaced_whole_and_only_admins_reach_secrets(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        assert admin.post(f"{API}/secrets", json=SECRET).status_code == 201
        patched = admin.patch(
            f"{API}/secrets/db",
            json={"stringData": {"password": "x"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert (patched.status_code, patched.json()["field"]) == (405, "method")
        again = admin.post(f"{API}/secrets", json=SECRET)
        assert again.status_code == 409
        assert len(_sealed_rows(hub)) == 1, "a refused create left its sealed row"
        for role in ("viewer", "operator"):
            made = admin.post(f"{API}/tokens", json={"subject": f"{role}-1", "role": role})
            headers = {"Authorization": f"Bearer {made.json()['token']}"}
            with httpx.Client(base_url=hub.url, headers=headers, timeout=10) as user:
                assert user.get(f"{API}/secrets").status_code == 403
                assert user.post(f"{API}/secrets", json=SECRET).status_code == 403
        assert admin.delete(f"{API}/secrets/db").status_code == 200
    assert _sealed_rows(hub) == []


def test_apply_writes_a_secret_and_every_apply_is_a_new_version(
    hub: HubProcess, tmp_path: Path
) -> None:
    manifest = tmp_path / "secret.yaml"
    manifest.write_text(
        "apiVersion: edgeplane.io/v1alpha1\nkind: Secret\nmetadata: {name: db}\n"
        f"stringData: {{password: {PASSWORD}}}\n"
    )
    env = {
        "EDGEPLANE_SERVER": hub.url,
        "EDGEPLANE_TOKEN": hub.token,
        "EDGEPLANE_CONFIG": "/dev/null",
    }
    first = CliRunner().invoke(app, ["apply", "-f", str(manifest)], env=env)
    second = CliRunner().invoke(app, ["apply", "-f", str(manifest)], env=env)
    assert (first.output, second.output) == ("secret/db created\n", "secret/db configured\n")
    with _admin(hub) as admin:
        assert admin.get(f"{API}/secrets/db").json()["spec"]["version"] == 2
    assert len(_sealed_rows(hub)) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest.read_text().replace("password:", "a/b:"))
    refused = CliRunner().invoke(app, ["apply", "-f", str(bad)], env=env)
    assert refused.exit_code == 1 and "stringData" in refused.output
    _clean(first.output + second.output + refused.output, "apply's output")


def test_a_damaged_keyring_is_a_503_naming_it(hub: HubProcess) -> None:
    (hub.data_dir / "secret-keys.json").write_text("{not json")
    with _admin(hub) as admin:
        answer = admin.post(f"{API}/secrets", json=SECRET)
        assert (answer.status_code, answer.json()["field"]) == (503, "keyring"), answer.text
        assert "secret-keys.json" in answer.json()["message"]
        assert admin.get(f"{API}/secrets").json()["items"] == []
    assert _sealed_rows(hub) == []
