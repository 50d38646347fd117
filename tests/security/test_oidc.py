"""OIDC bearer tokens on a real hub (issue 19), against a local issuer: a token of
the issuer's key with a mapped group is that role; an expired one, one for another
audience or issuer, one signed by another key, one with ``alg: none``, or one with no
mapped group is a 401; a rotated key is fetched again; bad flags stop the hub."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.security.objects import API, APP
from tests.support.hub import HubProcess, running_hub
from tests.support.oidc_issuer import AUDIENCE, Issuer, new_key, running_issuer


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
def oidc_hub(issuer: Issuer, tmp_path: Path) -> Iterator[HubProcess]:
    data = tmp_path / "hub"
    data.mkdir()
    flags = [
        f"--oidc-issuer={issuer.url}",
        f"--oidc-audience={AUDIENCE}",
        "--oidc-role=ops-viewers=viewer",
        "--oidc-role=apps=operator",
        "--oidc-role=platform=admin",
    ]
    with running_hub(data, *flags) as hub:
        yield hub


def _get(hub: HubProcess, token: str, path: str = f"{API}/sites") -> httpx.Response:
    return httpx.get(f"{hub.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_group_is_a_role(oidc_hub: HubProcess, issuer: Issuer) -> None:
    viewer = issuer.token("vera@example.com", ["ops-viewers", "unmapped"])
    assert _get(oidc_hub, viewer).status_code == 200
    me = _get(oidc_hub, viewer, f"{API}/auth/whoami").json()
    assert me == {"subject": "oidc:vera@example.com", "role": "viewer"}
    headers = {"Authorization": f"Bearer {viewer}"}
    refused = httpx.post(f"{oidc_hub.url}{API}/applications", json=APP, headers=headers)
    assert refused.status_code == 403 and "needs role operator" in refused.json()["message"]
    both = issuer.token("olga@example.com", ["ops-viewers", "apps"])  # the highest wins
    headers = {"Authorization": f"Bearer {both}"}
    made = httpx.post(f"{oidc_hub.url}{API}/applications", json=APP, headers=headers)
    assert made.status_code == 201, made.text
    audit = (oidc_hub.data_dir / "audit.log").read_text()
    assert '"subject":"oidc:olga@example.com"' in audit and both not in audit


def test_a_token_that_is_not_right_is_refused(oidc_hub: HubProcess, issuer: Issuer) -> None:
    assert _get(oidc_hub, issuer.token(groups=["platform"])).status_code == 200
    now = int(time.time())
    wrong = {
        "expired": issuer.token(groups=["platform"], lifetime=-120),
        "audience": issuer.token(groups=["platform"], aud="another-client"),
        "issuer": issuer.token(groups=["platform"], iss="http://127.0.0.1:1"),
        "other key": issuer.token(groups=["platform"], key=new_key()),
        "unknown kid": issuer.token(groups=["platform"], kid="k9", key=new_key()),
        "no group": issuer.token(groups=["unmapped"]),
        "alg none": jwt.encode(
            {
                "iss": issuer.url,
                "aud": AUDIENCE,
                "sub": "x",
                "iat": now,
                "exp": now + 60,
                "groups": ["platform"],
            },
            "",
            algorithm="none",
            headers={"kid": "k1"},
        ),
        "not a jwt": "a.b.c",
    }
    for what, token in wrong.items():
        answer = _get(oidc_hub, token)
        assert answer.status_code == 401, (what, answer.text)


def test_a_rotated_key_is_fetched_again(oidc_hub: HubProcess, issuer: Issuer) -> None:
    assert _get(oidc_hub, issuer.token(groups=["platform"])).status_code == 200
    issuer.keys = {"k2": new_key()}
    deadline = time.monotonic() + 60  # the hub fetches keys at most every 30 s
    while True:
        answer = _get(oidc_hub, issuer.token(groups=["platform"], kid="k2"))
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer.status_code == 200, answer.text
    assert issuer.fetches == 2, "an unknown kid made the hub fetch the keys more than twice"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (
            ["--oidc-issuer=http://issuer.example.com", "--oidc-audience=a", "--oidc-role=g=admin"],
            "https",
        ),
        (["--oidc-issuer=https://issuer.example.com", "--oidc-role=g=admin"], "--oidc-audience"),
        (
            ["--oidc-issuer=https://issuer.example.com", "--oidc-audience=a", "--oidc-role=g=root"],
            "--oidc-role",
        ),
        (["--oidc-audience=a"], "--oidc-issuer"),
    ],
)
def test_bad_oidc_flags_stop_the_hub(flags: list[str], named: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgeplane.hub", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
