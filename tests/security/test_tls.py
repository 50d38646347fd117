"""TLS and credentials: the hub serves HTTPS with its own CA, agents pin that CA from
their join token before sending it, tokens can be listed, revoked and rotated, and no
secret lands on stdout or on a command line. Real hubs and real agents throughout."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeplane.agent.credentials import load_identity
from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, tarball, wait_for
from tests.support.hub import HubProcess, running_hub
from tests.support.ports import free_port

API = "/api/v1alpha1"


@pytest.fixture
def tls_hub(tmp_path: Path) -> Iterator[HubProcess]:
    with running_hub(tmp_path / "hub", tls=True) as hub:
        yield hub


@pytest.fixture
def tls_fleet(tmp_path: Path) -> Iterator[Fleet]:
    # Heartbeats every 2 s, as the agents' flag says: a rotation's overlap covers a lease.
    fleet = Fleet(tmp_path, tls=True, hub_args=("--heartbeat-seconds", "2"))
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


def api(hub: HubProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**hub.headers(), **kwargs.pop("headers", {})}
    return httpx.request(
        method, f"{hub.url}{API}{path}", headers=headers, verify=hub.verify, timeout=10, **kwargs
    )


def test_hub_serves_https_with_its_own_ca_and_refuses_plain_http(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with running_hub(data, tls=True) as hub:
        assert hub.url.startswith("https://")
        assert httpx.get(f"{hub.url}/readyz", verify=hub.verify, timeout=5).status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(hub.url.replace("https://", "http://") + "/readyz", timeout=5)
        first_ca = hub.ca_file.read_bytes()
        fingerprint = httpx.get(f"{hub.url}{API}/ca", verify=hub.verify).json()["fingerprint"]
    for key in ("ca.key", "server.key"):
        assert (data / "tls" / key).stat().st_mode & 0o777 == 0o600, key
    served = x509.load_pem_x509_certificate((data / "tls" / "server.crt").read_bytes())
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    with running_hub(data, tls=True) as again:  # the CA is kept: agents' pins stay good
        assert again.ca_file.read_bytes() == first_ca
        answer = httpx.get(f"{again.url}{API}/ca", verify=again.verify, timeout=5).json()
        assert answer["fingerprint"] == fingerprint


def test_admin_token_is_not_printed(tls_hub: HubProcess) -> None:
    output = tls_hub.log.read_text()
    assert "admin.token" in output
    assert tls_hub.token not in output
    assert tls_hub.token.split("_", 2)[2] not in output


def test_agent_joins_over_https_pinning_the_ca_and_runs_a_workload(tls_fleet: Fleet) -> None:
    token = tls_fleet.join_token()
    assert token.endswith(
        httpx.get(f"{tls_fleet.url}{API}/ca", verify=tls_fleet.verify).json()["fingerprint"]
    )
    tls_fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
    agent = tls_fleet.add_agent("tls-1")
    assert agent.process is not None
    proc = Path(f"/proc/{agent.process.pid}/cmdline")
    cmdline = wait_for(lambda: proc.read_bytes(), "the agent's command line")
    assert b"--join-token-file" in cmdline
    given = agent.join_token_file.read_text().strip()
    assert given.split("_", 2)[2].split("@")[0].encode() not in cmdline
    tls_fleet.ok("POST", "/applications", demo_app("web"))
    wait_for(lambda: tls_fleet.running("web", {"tls-1"}), "web running at tls-1 over HTTPS")
    pinned = (agent.data_dir / "hub-ca.crt").read_text()
    assert pinned == tls_fleet.ca_file.read_text()


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A man in the middle: answers with another hub's CA, records every request."""

    seen: list[tuple[str, str, bytes]]
    ca_answer: bytes

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, bytes(str(self.headers), "latin-1") + body))
        return body

    def do_GET(self) -> None:
        self._record()
        self._answer(200, self.ca_answer if self.path == f"{API}/ca" else b"{}")

    def do_POST(self) -> None:
        self._record()
        self._answer(201, json.dumps({"site": "s", "credential": "ep_0_stolen"}).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_wrong_fingerprint_is_refused_before_the_token_is_sent(
    tls_fleet: Fleet, tmp_path: Path
) -> None:
    token = tls_fleet.join_token()
    with running_hub(tmp_path / "other", tls=True) as other:
        ca_answer = httpx.get(f"{other.url}{API}/ca", verify=other.verify).content
    seen: list[tuple[str, str, bytes]] = []
    handler = type("Mitm", (_Recorder,), {"seen": seen, "ca_answer": ca_answer})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_dir = tmp_path / "other" / "tls"
    context.load_cert_chain(tls_dir / "server.crt", tls_dir / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        token_file = tmp_path / "join.token"
        token_file.write_text(token + "\n")
        # The agent's system trust even accepts the intruder's certificate: only the
        # pin in the token can tell the two hubs apart.
        env = {**os.environ, "SSL_CERT_FILE": str(tls_dir / "ca.crt")}
        done = subprocess.run(
            [
                *(sys.executable, "-m", "edgeplane.agent", "--data-dir", str(tmp_path / "site")),
                *("--hub", f"https://127.0.0.1:{server.server_address[1]}", "--name", "s1"),
                *("--join-token-file", str(token_file)),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, done.stderr
    assert "does not present the CA the join token pins" in done.stderr
    assert [(method, path) for method, path, _ in seen] == [("GET", f"{API}/ca")]
    secret = token.split("_", 2)[2].split("@")[0]  # the secret itself may hold "_"
    assert all(secret.encode() not in raw for _, _, raw in seen)
    listed = tls_fleet.ok("GET", "/tokens")["items"]
    assert [t["usedAt"] for t in listed if t["role"] == "join"] == [None]


def _join(hub: HubProcess, site: str) -> str:
    made = api(hub, "POST", "/jointokens", json={"labels": {}})
    assert made.status_code == 201, made.text
    secret = made.json()["token"].split("@")[0]
    joined = httpx.post(
        f"{hub.url}{API}/join", json={"token": secret, "site": site}, verify=hub.verify
    )
    assert joined.status_code == 201, joined.text
    return str(joined.json()["credential"])


def test_tokens_are_listed_without_secrets_and_revocation_is_immediate(
    tls_hub: HubProcess,
) -> None:
    credential = _join(tls_hub, "shop-1")
    as_site = {"Authorization": f"Bearer {credential}"}
    assert api(tls_hub, "GET", "/sites/shop-1", headers=as_site).status_code == 200  # cached now
    listed = api(tls_hub, "GET", "/tokens")
    assert listed.status_code == 200
    for secret in (credential.split("_", 2)[2], tls_hub.token.split("_", 2)[2]):
        assert secret not in listed.text
    items = listed.json()["items"]
    assert {(t["role"], t["subject"]) for t in items} >= {("admin", "admin"), ("site", "shop-1")}
    join = next(t for t in items if t["role"] == "join")
    assert join["usedBy"] == "shop-1" and join["usedAt"]
    site_id = next(t["id"] for t in items if t["role"] == "site")
    revoked = api(tls_hub, "DELETE", f"/tokens/{site_id}")
    assert revoked.status_code == 200, revoked.text
    assert api(tls_hub, "GET", "/sites/shop-1", headers=as_site).status_code == 401
    assert api(tls_hub, "DELETE", f"/tokens/{site_id}").status_code == 404
    admin_id = next(t["id"] for t in items if t["role"] == "admin")
    last = api(tls_hub, "DELETE", f"/tokens/{admin_id}")
    assert last.status_code == 409 and last.json()["field"] == "id"


def test_a_new_site_credential_needs_that_credential_not_only_its_id(
    tls_hub: HubProcess,
) -> None:
    """Token ids are listed (`token list`). The credential route read the first of two
    Authorization headers and trusted its id, while authentication had checked the last:
    any valid token plus a site's id, with any secret, minted that site a credential."""
    _join(tls_hub, "shop-2")
    site_id = next(
        t["id"] for t in api(tls_hub, "GET", "/tokens").json()["items"] if t["role"] == "site"
    )
    asked = api(tls_hub, "POST", "/sites/shop-2/credential/rotate", json={"overlapSeconds": 60})
    assert asked.status_code == 202, asked.text
    for headers in (
        [("authorization", f"Bearer ep_{site_id}_guessed"), *tls_hub.headers().items()],
        [*tls_hub.headers().items(), ("authorization", f"Bearer ep_{site_id}_guessed")],
    ):
        taken = httpx.post(
            f"{tls_hub.url}{API}/sites/shop-2/credential", headers=headers, verify=tls_hub.verify
        )
        assert taken.status_code == 400, taken.text
        assert taken.json()["field"] == "Authorization"
    sites = [t for t in api(tls_hub, "GET", "/tokens").json()["items"] if t["role"] == "site"]
    assert [t["id"] for t in sites] == [site_id]


def test_a_site_that_joined_after_ten_thousand_tokens_can_be_rotated(
    tls_hub: HubProcess,
) -> None:
    """Rotation looked for the site's credential in the first 10,000 tokens, oldest
    first, and used join tokens stay: past about 5,000 joins a new site's credential
    could not be rotated (409 NoCredential), even if it had been stolen."""
    old = time.time() - 86_400
    with sqlite3.connect(tls_hub.data_dir / "edgeplane.db", timeout=30) as db:
        db.executemany(
            "INSERT INTO tokens (token_id, secret_hash, subject, role, created_at, used_at, "
            "used_by) VALUES (?, ?, '', 'join', ?, ?, ?)",
            [(f"old{i:09d}", "0" * 64, old + i, old + i, f"s{i}") for i in range(10_000)],
        )
    _join(tls_hub, "late-1")
    asked = api(tls_hub, "POST", "/sites/late-1/credential/rotate", json={"overlapSeconds": 60})
    assert asked.status_code == 202, asked.text
    rotated = api(tls_hub, "POST", "/tokens/rotate-admin")
    assert rotated.status_code == 201, rotated.text


def test_a_data_dir_that_existed_is_made_private(tmp_path: Path) -> None:
    """mkdir's mode does nothing to a dir that exists: in a 0755 data dir, with umask
    022, edgeplane.db (every env secret) was 0644, readable by every local user."""
    data = tmp_path / "hub"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    previous = os.umask(0o022)
    try:
        with running_hub(data) as hub:
            assert api(hub, "GET", "/sites").status_code == 200
            assert data.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(previous)


def test_admin_token_rotation_revokes_the_old_one(tls_hub: HubProcess) -> None:
    old = tls_hub.token
    assert api(tls_hub, "GET", "/sites").status_code == 200
    rotated = api(tls_hub, "POST", "/tokens/rotate-admin")
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["token"]
    assert tls_hub.token == new  # the hub's admin.token follows
    assert (tls_hub.data_dir / "admin.token").stat().st_mode & 0o777 == 0o600
    stale = httpx.get(
        f"{tls_hub.url}{API}/sites",
        headers={"Authorization": f"Bearer {old}"},
        verify=tls_hub.verify,
    )
    assert stale.status_code == 401
    assert api(tls_hub, "GET", "/sites").status_code == 200


def test_rotated_site_credential_reaches_the_running_agent_and_the_old_one_expires(
    tls_fleet: Fleet,
) -> None:
    agent = tls_fleet.add_agent("rot-1")
    wait_for(lambda: tls_fleet.site_phase("rot-1") == "Online", "rot-1 Online")
    identity = load_identity(agent.data_dir)
    assert identity is not None
    old = identity.token

    def as_site(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return tls_fleet.api("GET", "/sites/rot-1", headers=headers).status_code

    # An overlap shorter than the site's lease (3 heartbeats of 2 s) could lock it out.
    short = tls_fleet.api("POST", "/sites/rot-1/credential/rotate", {"overlapSeconds": 5})
    assert short.status_code == 422, short.text
    assert short.json()["field"] == "overlapSeconds" and "at least 6" in short.json()["message"]
    assert as_site(old) == 200, "a refused rotation changes nothing"
    asked = tls_fleet.api("POST", "/sites/rot-1/credential/rotate", {"overlapSeconds": 8})
    assert asked.status_code == 202, asked.text
    assert "previousCredentialExpiresAt" in asked.json()

    def switched() -> str | None:
        now = load_identity(agent.data_dir)
        return now.token if now and now.token != old else None

    new = wait_for(switched, "the agent to keep a new credential", timeout=30)
    wait_for(lambda: as_site(old) == 401, "the old credential to stop working", timeout=30)
    assert as_site(new) == 200

    def heartbeat() -> str:
        return str(tls_fleet.ok("GET", "/sites/rot-1")["status"].get("lastHeartbeat"))

    # The old credential is dead now: a newer heartbeat can only have come with the new.
    dead_at = heartbeat()
    wait_for(lambda: heartbeat() != dead_at, "a heartbeat sent with the new credential")
    assert tls_fleet.site_phase("rot-1") == "Online"
    wait_for(
        lambda: (
            "edgeplane.io/credential-rotation"
            not in (tls_fleet.ok("GET", "/sites/rot-1")["metadata"].get("annotations") or {})
        ),
        "the rotation notice to be cleared",
        timeout=30,
    )
    assert agent.process is not None and agent.process.poll() is None


def test_join_token_on_argv_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "edgeplane.agent", "--data-dir", str(tmp_path / "site")),
            *("--hub", "https://127.0.0.1:1", "--name", "s1", "--join", "ep_abc_secret"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--join-token-file" in done.stderr and "EDGEPLANE_JOIN_TOKEN" in done.stderr


def _ca_and_client(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a client certificate it signed: (ca.crt, client.crt, client.key)."""

    def named(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(named(f"{name} CA"))
        .issuer_name(named(f"{name} CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    client = (
        x509.CertificateBuilder()
        .subject_name(named(f"{name} client"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / f"{name}-ca.crt", directory / f"{name}.crt", directory / f"{name}.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(client.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_client_certificates_are_optional_and_verified_when_sent(tmp_path: Path) -> None:
    trusted_ca, trusted, trusted_key = _ca_and_client(tmp_path, "trusted")
    _, stranger, stranger_key = _ca_and_client(tmp_path, "stranger")
    with running_hub(tmp_path / "hub", "--client-ca", str(trusted_ca), tls=True) as hub:

        def ready(cert: Path | None, key: Path | None) -> int:
            context = ssl.create_default_context(cafile=str(hub.ca_file))
            if cert and key:
                context.load_cert_chain(cert, key)
            return httpx.get(f"{hub.url}/readyz", verify=context, timeout=5).status_code

        assert ready(None, None) == 200
        assert ready(trusted, trusted_key) == 200
        with pytest.raises(httpx.TransportError):
            ready(stranger, stranger_key)


def test_an_operators_certificate_is_served_and_an_agent_pins_it(tmp_path: Path) -> None:
    with running_hub(tmp_path / "issuer", tls=True):
        pass  # only its CA and a certificate it signed for 127.0.0.1 are wanted
    issued = tmp_path / "issuer" / "tls"
    cert, key = issued / "server.crt", issued / "server.key"
    flags = ("--tls-cert", str(cert), "--tls-key", str(key))
    with running_hub(tmp_path / "hub", *flags, tls=True, trusted=issued / "ca.crt") as hub:
        assert not (tmp_path / "hub" / "tls").exists()  # no CA of its own
        ca = api(hub, "GET", "/ca").json()
        assert ca["caCertificate"].strip() == cert.read_text().strip()
        token = api(hub, "POST", "/jointokens", json={}).json()["token"]
        assert token.endswith(ca["fingerprint"])
        token_file = tmp_path / "join.token"
        token_file.write_text(token)
        site = [sys.executable, "-m", "edgeplane.agent", "--data-dir", str(tmp_path / "site")]
        site += ["--hub", hub.url, "--name", "op-1", "--join-token-file", str(token_file)]
        with open(tmp_path / "agent.log", "wb") as log:
            agent = subprocess.Popen([*site, "--heartbeat-seconds", "2"], stdout=log, stderr=log)
        try:

            def phase() -> bool | None:
                answer = api(hub, "GET", "/sites/op-1")
                return (answer.json().get("status") or {}).get("phase") == "Online" or None

            wait_for(phase, "op-1 Online behind the operator's certificate")
        finally:
            agent.terminate()
            agent.wait(30)
