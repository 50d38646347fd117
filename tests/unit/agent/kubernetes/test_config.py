"""Kubeconfig and in-cluster config: what loads, and what is refused with the field
and the fix named."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes.kubernetes.config import (
    MAX_KUBECONFIG_BYTES,
    KubeConfig,
    KubeConfigError,
    in_cluster_config,
    load_kubeconfig,
)
from hack.kube.cluster import Cluster

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    current: str | None = "main",
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c1", "cluster": cluster or {"server": "https://10.0.0.1:6443"}},
            {"name": "c2", "cluster": {"server": "https://10.0.0.2:6443"}},
        ],
        "users": [{"name": "u1", "user": user or {"token": "abc"}}, {"name": "u2", "user": None}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c1", "user": "u1"}},
            {"name": "other", "context": {"cluster": "c2", "user": "u2"}},
        ],
    }
    if current is not None:
        document["current-context"] = current
    return document


def write(tmp_path: Path, document: Any, name: str = "config") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_kubeconfig_hack_kube_writes_loads(tmp_path: Path) -> None:
    cluster = Cluster("site-9", tmp_path, tmp_path, ports={"apiserver": 6443})
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA)
    cluster._write_kubeconfig()
    assert load_kubeconfig(cluster.kubeconfig) == KubeConfig(
        server="https://127.0.0.1:6443", ca_pem=CA, token=cluster.token
    )


def test_yaml_with_data_fields_loads(tmp_path: Path) -> None:
    text = f"""
apiVersion: v1
kind: Config
current-context: k3s
clusters:
- name: k3s
  cluster:
    server: https://192.168.1.10:6443/
    certificate-authority-data: {b64(CA)}
users:
- name: admin
  user:
    client-certificate-data: {b64(CERT)}
    client-key-data: {b64(KEY)}
contexts:
- name: k3s
  context: {{cluster: k3s, user: admin, namespace: default}}
"""
    assert load_kubeconfig(write(tmp_path, text)) == KubeConfig(
        server="https://192.168.1.10:6443", ca_pem=CA, client_cert_pem=CERT, client_key_pem=KEY
    )


def test_relative_paths_resolve_against_the_kubeconfig_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "certs").mkdir(parents=True)
    for name, data in (("ca.crt", CA), ("client.crt", CERT), ("client.key", KEY)):
        (home / "certs" / name).write_bytes(data)
    (home / "token").write_text("t0k3n")
    cluster = {"server": "https://kube.example:6443", "certificate-authority": "certs/ca.crt"}
    user = {
        "client-certificate": "certs/client.crt",
        "client-key": str(home / "certs" / "client.key"),
        "tokenFile": "token",
    }
    monkeypatch.chdir(tmp_path)  # not the kubeconfig's directory
    config = load_kubeconfig(write(home, kubeconfig(cluster, user)))
    assert config == KubeConfig(
        server="https://kube.example:6443",
        ca_pem=CA,
        client_cert_pem=CERT,
        client_key_pem=KEY,
        token_file=home / "token",
    )


def test_a_context_is_chosen_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, kubeconfig())
    assert load_kubeconfig(path).token == "abc"
    assert load_kubeconfig(path, "other") == KubeConfig(server="https://10.0.0.2:6443")


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True}
    assert load_kubeconfig(write(tmp_path, kubeconfig(cluster))).insecure is True


REFUSED = [
    (kubeconfig(current=None), None, "current-context is not set: pass --kube-context NAME"),
    (kubeconfig(), "nope", "contexts has no entry named 'nope': add it, or pick another"),
    (
        kubeconfig(user={"exec": {"command": "aws"}}),
        None,
        "users[u1].user.exec: the agent supports client certificates, token and tokenFile "
        "only: give this user a service account token",
    ),
    (
        kubeconfig(user={"auth-provider": {"name": "gcp"}}),
        None,
        "users[u1].user.auth-provider: the agent supports client certificates",
    ),
    (
        kubeconfig(user={"username": "admin", "password": "x"}),
        None,
        "users[u1].user.username: the agent supports",
    ),
    (
        kubeconfig(user={"client-certificate-data": b64(CERT)}),
        None,
        "users[u1].user: give both client-certificate(-data) and client-key(-data)",
    ),
    (
        kubeconfig({"server": "https://a:1", "certificate-authority-data": "%%%"}),
        None,
        "clusters[c1].cluster.certificate-authority-data: not base64",
    ),
    (
        kubeconfig({"server": "https://a:1", "certificate-authority": "missing.crt"}),
        None,
        "cannot read certificate-authority",
    ),
    (kubeconfig({"server": "ftp://a"}), None, "clusters[c1].cluster.server: set the https://"),
    (kubeconfig({"server": "https://a\n"}), None, "clusters[c1].cluster.server"),
    (
        kubeconfig({"certificate-authority-data": b64(CA)}),
        None,
        "clusters[c1].cluster.server: set the https:// URL",
    ),
    (
        kubeconfig({"server": "https://a:1", "insecure-skip-tls-verify": "yes"}),
        None,
        "clusters[c1].cluster.insecure-skip-tls-verify: write true or false",
    ),
    (kubeconfig(user={"tokenFile": "absent"}), None, "users[u1].user.tokenFile: "),
    (kubeconfig(user={"token": "two words"}), None, "users[u1].user.token: give the bearer"),
    ("clusters: [", None, "not valid YAML"),
    ("- a list", None, "not a kubeconfig"),
]


@pytest.mark.parametrize(
    ("document", "context", "message"),
    REFUSED,
    ids=[
        "no-current-context",
        "unknown-context",
        "exec",
        "auth-provider",
        "basic-auth",
        "certificate-without-key",
        "bad-base64",
        "missing-ca-file",
        "not-https",
        "newline-in-server",
        "no-server",
        "insecure-not-bool",
        "missing-token-file",
        "token-not-text",
        "not-yaml",
        "not-a-mapping",
    ],
)
def test_what_cannot_be_used_is_refused_naming_the_file_field_and_fix(
    tmp_path: Path, document: Any, context: str | None, message: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(KubeConfigError) as refused:
        load_kubeconfig(path, context)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "#" * (MAX_KUBECONFIG_BYTES + 1))
    with pytest.raises(KubeConfigError, match="is over 1048576 bytes"):
        load_kubeconfig(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="cannot read the kubeconfig"):
        load_kubeconfig(tmp_path / "absent")


def service_account(tmp_path: Path) -> Path:
    root = tmp_path / "serviceaccount"
    root.mkdir()
    (root / "ca.crt").write_bytes(CA)
    (root / "token").write_text("jwt")
    return root


@pytest.mark.parametrize(
    ("host", "server"),
    [("10.96.0.1", "https://10.96.0.1:443"), ("fd00::1", "https://[fd00::1]:443")],
    ids=["ipv4", "ipv6"],
)
def test_in_cluster_config(tmp_path: Path, host: str, server: str) -> None:
    root = service_account(tmp_path)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_config(environ, root) == KubeConfig(
        server=server, ca_pem=CA, token_file=root / "token"
    )


@pytest.mark.parametrize(
    ("environ", "remove", "message"),
    [
        ({}, None, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"),
        (
            {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "x"},
            None,
            "or not a port",
        ),
        ({"KUBERNETES_SERVICE_HOST": "h"}, "token", "automountServiceAccountToken: true"),
        ({"KUBERNETES_SERVICE_HOST": "h"}, "ca.crt", "cannot read ca.crt"),
    ],
    ids=["no-environment", "bad-port", "no-token", "no-ca"],
)
def test_in_cluster_config_refusals(
    tmp_path: Path, environ: dict[str, str], remove: str | None, message: str
) -> None:
    root = service_account(tmp_path)
    if remove:
        (root / remove).unlink()
    with pytest.raises(KubeConfigError, match="in-cluster config: ") as refused:
        in_cluster_config(environ, root)
    assert message in str(refused.value)
