"""Where the agent's Kubernetes API is and how to authenticate to it: a kubeconfig
file (the subset kubectl users write by hand and clusters like k3s or kubeadm
generate) or the in-cluster service account of a pod.

Only what the agent can honour is accepted: a CA, client certificates, a bearer token
or a token file. Credential plugins (``exec``, ``auth-provider``) and basic auth are
refused with a message naming the file, the user and the fix, never silently ignored.
The result is a plain frozen ``KubeConfig``; ``client.py`` turns it into TLS settings.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_KUBECONFIG_BYTES = 1024 * 1024
MAX_PEM_BYTES = 256 * 1024
MAX_TOKEN_BYTES = 64 * 1024
SERVICE_ACCOUNT_ROOT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_SERVER = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
_UNSUPPORTED_AUTH = ("exec", "auth-provider", "username", "password")


@dataclass(frozen=True)
class KubeConfig:
    server: str
    ca_pem: bytes | None = None
    """None: the system's trust store."""
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    token: str | None = None
    token_file: Path | None = None
    """Read again whenever it changes: bound service account tokens rotate."""
    insecure: bool = False


class KubeConfigError(ValueError):
    """A kubeconfig or in-cluster setup the agent cannot use; the message names the
    file, the field and the fix."""


def load_kubeconfig(path: Path, context: str | None = None) -> KubeConfig:
    """The connection of ``context`` (default: ``current-context``) in the file."""
    document = _read_document(path)
    name = context or document.get("current-context")
    if not isinstance(name, str) or not name:
        raise KubeConfigError(
            f"{path}: current-context is not set: pass --kube-context NAME "
            "or set it with `kubectl config use-context NAME`"
        )
    entry = _named(document, path, "contexts", name, "context")
    cluster_name, user_name = entry.get("cluster"), entry.get("user")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeConfigError(f"{path}: contexts[{name}].context.cluster: name a cluster")
    cluster = _named(document, path, "clusters", cluster_name, "cluster")
    user: Mapping[str, Any] = {}
    if isinstance(user_name, str) and user_name:
        user = _named(document, path, "users", user_name, "user")
    return _build(_Source(path, cluster_name, user_name or ""), cluster, user)


def in_cluster_config(
    environ: Mapping[str, str] = os.environ, root: Path = SERVICE_ACCOUNT_ROOT
) -> KubeConfig:
    """The pod's own service account, as client-go's ``rest.InClusterConfig``."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not re.fullmatch(r"[0-9]{1,5}", port):
        raise KubeConfigError(
            "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
            "set (or not a port): run the agent as a pod, or pass --kubeconfig FILE"
        )
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    token_file = root / "token"
    if not token_file.is_file():
        raise KubeConfigError(
            f"in-cluster config: {token_file} is missing: mount the pod's service account "
            "token (automountServiceAccountToken: true)"
        )
    ca_file = root / "ca.crt"
    ca = _read_file(ca_file, MAX_PEM_BYTES, "in-cluster config", "ca.crt")
    return KubeConfig(server=f"https://{host}:{port}", ca_pem=ca, token_file=token_file)


@dataclass(frozen=True)
class _Source:
    """Where the settings being read come from, for error messages."""

    path: Path
    cluster: str
    user: str

    def error(self, field: str, fix: str) -> KubeConfigError:
        return KubeConfigError(f"{self.path}: {field}: {fix}")


def _read_document(path: Path) -> dict[str, Any]:
    text = _read_file(path, MAX_KUBECONFIG_BYTES, str(path), "the kubeconfig")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise KubeConfigError(f"{path}: not valid YAML ({e}): fix or regenerate it") from e
    if not isinstance(document, dict):
        raise KubeConfigError(f"{path}: not a kubeconfig (a mapping with clusters, users, ...)")
    return document


def _read_file(path: Path, limit: int, where: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise KubeConfigError(f"{where}: cannot read {what} {path}: {e.strerror}") from e
    if len(data) > limit:
        raise KubeConfigError(
            f"{where}: {what} {path} is over {limit} bytes: is it the right file?"
        )
    return data


def _named(
    document: Mapping[str, Any], path: Path, section: str, name: str, key: str
) -> Mapping[str, Any]:
    """The ``key`` mapping of the entry called ``name`` in ``section``."""
    entries = document.get(section)
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key)
            if value is None and section == "users":
                return {}  # a user with no credentials: anonymous
            if not isinstance(value, dict):
                raise KubeConfigError(f"{path}: {section}[{name}].{key} is not a mapping")
            return value
    raise KubeConfigError(
        f"{path}: {section} has no entry named {name!r}: add it, or pick another with "
        "--kube-context (`kubectl config get-contexts` lists them)"
    )


def _build(source: _Source, cluster: Mapping[str, Any], user: Mapping[str, Any]) -> KubeConfig:
    cluster_at, user_at = f"clusters[{source.cluster}].cluster", f"users[{source.user}].user"
    for key in _UNSUPPORTED_AUTH:
        if key in user:
            raise source.error(
                f"{user_at}.{key}",
                "the agent supports client certificates, token and tokenFile only: give this "
                "user a service account token (kubectl create token NAME) or a client "
                "certificate, in a kubeconfig of its own",
            )
    server = cluster.get("server")
    if not isinstance(server, str) or not _SERVER.fullmatch(server):
        raise source.error(f"{cluster_at}.server", "set the https:// URL of the apiserver")
    has_cert = "client-certificate" in user or "client-certificate-data" in user
    if has_cert != ("client-key" in user or "client-key-data" in user):
        raise source.error(
            user_at, "give both client-certificate(-data) and client-key(-data), or neither"
        )
    return KubeConfig(
        server=server.rstrip("/"),
        ca_pem=_pem(source, cluster, cluster_at, "certificate-authority"),
        client_cert_pem=_pem(source, user, user_at, "client-certificate"),
        client_key_pem=_pem(source, user, user_at, "client-key"),
        token=_token(source, user, user_at),
        token_file=_token_file(source, user, user_at),
        insecure=_insecure(source, cluster, cluster_at),
    )


def _pem(source: _Source, section: Mapping[str, Any], where: str, key: str) -> bytes | None:
    """``key-data`` (base64) wins over ``key`` (a file), as in kubectl."""
    data = section.get(f"{key}-data")
    if data is not None:
        if not isinstance(data, str) or len(data) > MAX_PEM_BYTES * 2:
            raise source.error(f"{where}.{key}-data", "give the base64 of a PEM file")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as e:
            raise source.error(f"{where}.{key}-data", "not base64: give the base64 of a PEM") from e
    file = _path(source, section, where, key)
    return None if file is None else _read_file(file, MAX_PEM_BYTES, str(source.path), key)


def _path(source: _Source, section: Mapping[str, Any], where: str, key: str) -> Path | None:
    """A file named in the kubeconfig; relative paths are relative to its directory."""
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise source.error(f"{where}.{key}", "give a file path")
    file = Path(value).expanduser()
    return file if file.is_absolute() else source.path.parent / file


def _token(source: _Source, user: Mapping[str, Any], where: str) -> str | None:
    token = user.get("token")
    if token is None:
        return None
    if not isinstance(token, str) or not re.fullmatch(r"[\x21-\x7e]{1,65536}", token):
        raise source.error(f"{where}.token", "give the bearer token as text")
    return token


def _token_file(source: _Source, user: Mapping[str, Any], where: str) -> Path | None:
    file = _path(source, user, where, "tokenFile")
    if file is not None and not file.is_file():
        raise source.error(f"{where}.tokenFile", f"{file} is not a file: give the token's path")
    return file


def _insecure(source: _Source, cluster: Mapping[str, Any], where: str) -> bool:
    value = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(value, bool):
        raise source.error(f"{where}.insecure-skip-tls-verify", "write true or false")
    return value
