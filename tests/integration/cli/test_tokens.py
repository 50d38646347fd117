"""``edgeplane token`` and ``site rotate-credential`` against a real hub: secrets never
shown, revocation at once, the admin token rotated into the context in use."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from edgeplane.client.config import add_context, load_config
from tests.integration.cli.conftest import Run
from tests.support.hub import HubProcess

API = "/api/v1alpha1"


def test_list_shows_every_token_without_its_secret(cli: Run, hub: HubProcess) -> None:
    made = json.loads(cli("site", "token", "--labels", "region=eu", "-o", "json").stdout)
    listed = cli("token", "list")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "ROLE",
        "SUBJECT",
        "CREATED",
        "EXPIRES",
        "USED",
    ]
    join_id = made["token"].split("_")[1]
    assert any(line.split()[:2] == [join_id, "join"] for line in listed.stdout.splitlines())
    for secret in (made["token"].split("_", 2)[2], hub.token.split("_", 2)[2]):
        assert secret not in listed.stdout
    as_json = json.loads(cli("token", "list", "-o", "json").stdout)["items"]
    assert {t["role"] for t in as_json} == {"admin", "join"}
    revoked = cli("token", "revoke", join_id)
    assert revoked.stdout == f"token {join_id} (join) revoked\n", revoked.stderr
    again = cli("token", "revoke", join_id)
    assert again.exit_code == 1 and "token list" in again.stderr
    joined = httpx.post(
        f"{hub.url}{API}/join", json={"token": made["token"], "site": "s"}, timeout=10
    )
    assert joined.status_code == 401


def test_rotating_a_site_that_never_joined_is_refused(cli: Run) -> None:
    result = cli("site", "rotate-credential", "nowhere")
    assert result.exit_code == 1
    assert "holds no valid credential" in result.stderr
    usage = cli("site", "rotate-credential", "nowhere", "--overlap", "8d")
    assert usage.exit_code == 2 and "--overlap" in usage.stderr


def test_rotate_admin_writes_the_new_token_into_the_context(
    bare_cli: Run, hub: HubProcess, config_file: Path
) -> None:
    add_context(config_file, "here", hub.url, hub.token)
    old = hub.token
    result = bare_cli("token", "rotate-admin")
    assert result.exit_code == 0, result.stderr
    assert 'context "here" updated' in result.stdout
    (context,) = load_config(config_file)["contexts"]
    assert context["token"] == hub.token != old
    assert bare_cli("get", "sites").exit_code == 0
    stale = httpx.get(f"{hub.url}{API}/sites", headers={"Authorization": f"Bearer {old}"})
    assert stale.status_code == 401
