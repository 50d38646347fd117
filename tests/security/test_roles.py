"""User tokens with roles on a real hub (issue 19): a viewer reads, an operator also
runs applications, only an admin changes the fleet's shape and its credentials; every
refusal is a 403 naming the role needed, and changes nothing; ``can-i`` says what the
middleware does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from edgeplane.cli import app
from tests.security.objects import API, APP
from tests.support.hub import HubProcess

SITE = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": "shop-1"}}
POLICY = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Policy",
    "metadata": {"name": "eu-only"},
    "spec": {"rules": [{"name": "eu", "expression": "true", "message": "eu only"}]},
}


def _admin(hub: HubProcess) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10)


def _user(hub: HubProcess, role: str, subject: str | None = None) -> httpx.Client:
    with _admin(hub) as admin:
        answer = admin.post(f"{API}/tokens", json={"subject": subject or role, "role": role})
    assert answer.status_code == 201, answer.text
    assert answer.json()["role"] == role
    token = answer.json()["token"]
    return httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _objects(client: httpx.Client) -> dict[str, Any]:
    """Sites and applications as written (the controllers write status meanwhile)."""
    return {
        plural: [
            ({**o["metadata"], "resourceVersion": None}, o["spec"])
            for o in client.get(f"{API}/{plural}").json()["items"]
        ]
        for plural in ("sites", "applications")
    }


def _forbidden(answer: httpx.Response, needs: str) -> None:
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["field"] == "role", body
    assert f"needs role {needs}" in body["message"], body


def test_a_viewer_reads_and_changes_nothing(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        assert admin.post(f"{API}/applications", json=APP).status_code == 201
        assert admin.post(f"{API}/sites", json=SITE).status_code == 201
        before = _objects(admin)
    with _user(hub, "viewer", "vera") as vera:
        assert vera.get(f"{API}/applications/web").json()["metadata"]["name"] == "web"
        assert [s["metadata"]["name"] for s in vera.get(f"{API}/sites").json()["items"]] == [
            "shop-1"
        ]
        assert vera.get(f"{API}/applications/web/explain").status_code == 200
        with vera.stream("GET", f"{API}/applications", params={"watch": "true"}) as watch:
            assert watch.status_code == 200
        _forbidden(
            vera.post(f"{API}/applications", json={**APP, "metadata": {"name": "x"}}), "operator"
        )
        _forbidden(vera.delete(f"{API}/applications/web"), "operator")
        _forbidden(vera.delete(f"{API}/sites/shop-1"), "admin")
        _forbidden(vera.get(f"{API}/tokens"), "admin")
        _forbidden(vera.post(f"{API}/jointokens", json={}), "admin")
        _forbidden(vera.post(f"{API}/tokens", json={"subject": "me", "role": "admin"}), "admin")
        assert vera.get(f"{API}/auth/whoami").json() == {"subject": "vera", "role": "viewer"}
        assert vera.get(API).status_code == 200  # discovery, which the CLI reads first
        token = vera.headers["Authorization"].removeprefix("Bearer ")
        env = {
            "EDGEPLANE_SERVER": hub.url,
            "EDGEPLANE_TOKEN": token,
            "EDGEPLANE_CONFIG": "/dev/null",
        }
        listed = CliRunner().invoke(app, ["get", "applications"], env=env)
        assert listed.exit_code == 0 and "web" in listed.output, listed.output
        refused = CliRunner().invoke(app, ["delete", "application", "web"], env=env)
        assert refused.exit_code != 0 and "needs role operator" in refused.output
    with _admin(hub) as admin:
        assert _objects(admin) == before, "a refused request changed the store"


def test_an_operator_runs_applications_but_not_the_fleet(hub: HubProcess) -> None:
    with _user(hub, "operator", "olga") as olga:
        assert olga.post(f"{API}/applications", json=APP).status_code == 201
        patched = olga.patch(
            f"{API}/applications/web",
            json={"metadata": {"labels": {"team": "retail"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text
        _forbidden(olga.post(f"{API}/sites", json=SITE), "admin")
        _forbidden(olga.post(f"{API}/policies", json=POLICY), "admin")
        _forbidden(olga.put(f"{API}/applications/web/status", json=APP), "admin")
        _forbidden(olga.post(f"{API}/tokens/rotate-admin"), "admin")
        assert olga.delete(f"{API}/applications/web").status_code == 200


def test_can_i_says_what_the_hub_does(hub: HubProcess) -> None:
    questions = [
        ("get", "applications", ""),
        ("watch", "sites", ""),
        ("create", "app", ""),
        ("delete", "applications", "web"),
        ("create", "sites", ""),
        ("create", "policies", ""),
        ("patch", "applications/status", "web"),
    ]
    expected = {
        "viewer": [True, True, False, False, False, False, False],
        "operator": [True, True, True, True, False, False, False],
        "admin": [True] * 7,
    }
    for role, answers in expected.items():
        with _user(hub, role, f"{role}-1") as user:
            for (verb, kind, name), want in zip(questions, answers, strict=True):
                answer = user.get(
                    f"{API}/auth/can-i", params={"verb": verb, "kind": kind, "name": name}
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["allowed"] is want, (role, verb, kind, answer.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "ann", "role": "root"}, "role"),
        ({"subject": "Ann\n", "role": "viewer"}, "subject"),
        ({"subject": "admin", "role": "viewer"}, "subject"),
        ({"subject": "ann", "role": "viewer", "ttlSeconds": 5}, "ttlSeconds"),
        ({"subject": "ann", "role": "viewer", "scope": "all"}, "scope"),
    ],
)
def test_a_bad_token_request_is_refused_and_mints_nothing(
    hub: HubProcess, body: dict[str, Any], field: str
) -> None:
    with _admin(hub) as admin:
        before = admin.get(f"{API}/tokens").json()["items"]
        answer = admin.post(f"{API}/tokens", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == field
        assert admin.get(f"{API}/tokens").json()["items"] == before


def test_can_i_refuses_a_bad_question(hub: HubProcess) -> None:
    with _user(hub, "viewer") as user:
        for params, field in (
            ({"verb": "destroy", "kind": "applications"}, "verb"),
            ({"verb": "get", "kind": "widgets"}, "kind"),
            ({"verb": "get", "kind": "applications", "name": "Web\n"}, "name"),
        ):
            answer = user.get(f"{API}/auth/can-i", params=params)
            assert (answer.status_code, answer.json()["field"]) == (400, field), answer.text


def test_a_revoked_user_token_fails_at_once_and_rotate_admin_keeps_users(
    hub: HubProcess,
) -> None:
    with _admin(hub) as admin:
        made = admin.post(f"{API}/tokens", json={"subject": "ann", "role": "admin"}).json()
        ann = httpx.Client(
            base_url=hub.url, headers={"Authorization": f"Bearer {made['token']}"}, timeout=10
        )
        with ann:
            assert ann.post(f"{API}/tokens/rotate-admin").status_code == 201
            assert ann.get(f"{API}/sites").status_code == 200, "rotate-admin revoked a user"
            assert ann.delete(f"{API}/tokens/{made['id']}").status_code == 200
            assert ann.get(f"{API}/sites").status_code == 401
