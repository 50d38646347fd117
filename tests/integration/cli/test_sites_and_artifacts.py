"""``site token``, ``artifact push``/``list`` and ``logs`` against a real hub."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import httpx
import pytest

from edgeplane.client.hub import HubClient
from tests.integration.cli.conftest import Run
from tests.support.hub import HubProcess


def test_site_token_joins_a_site_once_with_its_labels(
    cli: Run, hub: HubProcess, client: HubClient
) -> None:
    result = cli(
        "site", "token", "--labels", "region=eu-west,tier=edge", "--ttl", "15m", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["labels"] == {"region": "eu-west", "tier": "edge"}
    body = {"token": answer["token"], "site": "shop-1", "inventory": {"cpus": 2}}
    joined = httpx.post(f"{hub.url}/api/v1alpha1/join", json=body, timeout=10)
    assert joined.status_code == 201, joined.text
    site = client.get("sites", "shop-1")
    assert site["metadata"]["labels"] == {"region": "eu-west", "tier": "edge"}
    listed = [line.split() for line in cli("get", "sites", "-o", "wide").stdout.splitlines()]
    assert listed[0][:2] == ["NAME", "PHASE"]
    assert [row[:2] + row[6:7] for row in listed[1:]] == [["shop-1", "Pending", "eu-west"]]
    again = httpx.post(f"{hub.url}/api/v1alpha1/join", json={**body, "site": "shop-2"}, timeout=10)
    assert again.status_code == 401
    assert again.json()["reason"] == "JoinTokenUsed"
    assert "shop-1" in again.json()["message"]


def test_site_token_text_says_how_to_start_the_agent(cli: Run, hub: HubProcess) -> None:
    result = cli("site", "token")
    assert result.exit_code == 0, result.stderr
    assert f"edgeplane agent --hub {hub.url} --join-token-file FILE" in result.stdout
    assert "\nep_" in result.stdout  # the token itself, on its own line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ttl", "5x"], "--ttl '5x'"),
        (["--ttl", "0"], "--ttl '0'"),
        (["--labels", "region"], "'region' is not KEY=VALUE"),
        (["--labels", "bad key!=x"], "key 'bad key!'"),
    ],
    ids=["ttl-unit", "ttl-zero", "label-no-value", "label-bad-key"],
)
def test_bad_token_flags_are_usage_errors(cli: Run, args: list[str], expected: str) -> None:
    result = cli("site", "token", *args)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_artifact_push_is_reproducible_and_versions_never_change(
    cli: Run, hub: HubProcess, tmp_path: Path
) -> None:
    service = tmp_path / "svc"
    (service / "lib").mkdir(parents=True)
    (service / "main.py").write_text("print('hi')\n")
    (service / "lib" / "util.py").write_text("X = 1\n")
    first = cli("artifact", "push", str(service), "--name", "svc", "--version", "1.0.0")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("artifact svc:1.0.0 created sha256:")
    sha256 = first.stdout.split()[3].removeprefix("sha256:")
    (service / "main.py").touch()  # a new mtime: the same content, the same artifact
    second = cli("artifact", "push", str(service), "--name", "svc", "--version", "1.0.0")
    assert second.exit_code == 0, second.stderr
    assert "unchanged" in second.stdout
    assert first.stdout.split()[3] == second.stdout.split()[3]
    tarball = tmp_path / "svc.tar.gz"  # the hub's own copy, pushed back as a file: unchanged
    tarball.write_bytes(hub_content(hub, "svc", "1.0.0"))
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == sha256
    as_file = cli("artifact", "push", str(tarball), "--name", "svc", "--version", "1.0.0")
    assert "unchanged" in as_file.stdout, as_file.stderr

    (service / "main.py").write_text("print('changed')\n")
    changed = cli("artifact", "push", str(service), "--name", "svc", "--version", "1.0.0")
    assert changed.exit_code == 1
    assert "versions never change" in changed.stderr
    assert changed.stdout == ""

    listed = json.loads(cli("artifact", "list", "-o", "json").stdout)["items"]
    assert ("svc", "1.0.0") in [(a["name"], a["version"]) for a in listed]
    table = [line.split() for line in cli("artifact", "list").stdout.splitlines()]
    assert table[0] == ["NAME", "VERSION", "SHA256", "SIZE", "AGE"]
    assert ["svc", "1.0.0", sha256[:12]] in [row[:3] for row in table[1:]]


def hub_content(hub: HubProcess, name: str, version: str) -> bytes:
    url = f"{hub.url}/api/v1alpha1/artifacts/{name}/{version}/content"
    answer = httpx.get(url, headers=hub.headers(), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.content


def test_artifact_push_refuses_an_empty_version_and_a_missing_path(
    cli: Run, tmp_path: Path
) -> None:
    empty = cli("artifact", "push", str(tmp_path), "--name", "svc", "--version", " ")
    assert empty.exit_code == 2
    assert "--version" in empty.stderr and "must not be empty" in empty.stderr
    missing = cli("artifact", "push", str(tmp_path / "nope"), "--name", "svc", "--version", "1")
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr


def test_artifact_push_refuses_what_would_escape(cli: Run, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(__file__, arcname="../outside.py")
    result = cli("artifact", "push", str(evil), "--name", "evil", "--version", "1")
    assert result.exit_code == 1
    assert "'../outside.py'" in result.stderr
    link_dir = tmp_path / "linked"
    link_dir.mkdir()
    (link_dir / "passwd").symlink_to("/etc/passwd")
    linked = cli("artifact", "push", str(link_dir), "--name", "linked", "--version", "1")
    assert linked.exit_code == 1
    assert "links outside" in linked.stderr
    names = {a["name"] for a in json.loads(cli("artifact", "list", "-o", "json").stdout)["items"]}
    assert not names & {"evil", "linked"}


def test_logs_of_an_application_without_an_assignment_there(cli: Run) -> None:
    result = cli("logs", "nothing", "--site", "nowhere")
    assert result.exit_code == 1
    assert "has no assignment at site 'nowhere'" in result.stderr
