"""Trusting the hub before the first secret is sent, as ``kubeadm join
--discovery-token-ca-cert-hash`` does.

A join token from an HTTPS hub reads ``ep_<id>_<secret>@sha256:<hex>``: the suffix is
the SHA-256 of the hub CA's DER. Before it sends the token, the agent fetches the CA
anonymously (``GET /api/v1alpha1/ca``), keeps it only if its fingerprint is the
token's, and from then on talks to the hub only over TLS verified against that CA
(kept as ``hub-ca.crt`` in the data dir). Anyone in between can answer that first
request, but nobody without the CA's key can then pass the verified handshake.

The join token itself comes from a file or the environment, never from argv, where
every user of the host can read it in ``/proc/<pid>/cmdline``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import ssl
from collections.abc import MutableMapping
from pathlib import Path

import httpx

from edgeplane.agent.errors import HubUnreachable, JoinError

HUB_CA_FILE = "hub-ca.crt"
JOIN_TOKEN_ENV = "EDGEPLANE_JOIN_TOKEN"
MAX_TOKEN_BYTES = 1024
MAX_CA_BYTES = 64 * 1024
FETCH_TIMEOUT = 15.0
_JOIN_TOKEN = re.compile(r"\A(ep_[0-9a-f]{1,64}_[A-Za-z0-9_-]{1,256})(?:@(sha256:[0-9a-f]{64}))?\Z")
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)


def split_join_token(text: str) -> tuple[str, str | None]:
    """The token to send and the CA fingerprint it pins (None when it pins none)."""
    match = _JOIN_TOKEN.fullmatch(text.strip())
    if not match:
        raise JoinError(
            "the join token is malformed: it reads ep_<id>_<secret>[@sha256:<hex>]; "
            "make one with `edgeplane site token`"
        )
    return match[1], match[2]


def read_join_token(path: Path | None, environ: MutableMapping[str, str]) -> str | None:
    """The join token from ``--join-token-file`` or ``$EDGEPLANE_JOIN_TOKEN`` (which is
    removed, so that workloads do not inherit it)."""
    from_env = environ.pop(JOIN_TOKEN_ENV, None)
    if path is None:
        return from_env.strip() if from_env else None
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOKEN_BYTES + 1)
    except OSError as e:
        raise JoinError(f"--join-token-file {path}: {e.strerror}") from e
    if len(data) > MAX_TOKEN_BYTES:
        raise JoinError(f"--join-token-file {path}: not a join token (over {MAX_TOKEN_BYTES} B)")
    return data.decode("ascii", errors="replace").strip()


def fingerprint(pem: str) -> str:
    return "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def hub_verify(hub: str, data_dir: Path) -> ssl.SSLContext | bool:
    """How to verify the hub: its pinned CA when one is kept, else the system's CAs."""
    path = data_dir / HUB_CA_FILE
    if not hub.startswith("https://") or not path.exists():
        return True
    return pinned_context(path.read_text())


def pinned_context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem)
    # An operator's own certificate may be pinned as its own anchor (no root above it).
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


async def fetch_pinned_ca(hub: str, expected: str) -> str:
    """The hub's CA whose fingerprint is ``expected``; JoinError for any other."""
    if not hub.startswith("https://"):
        raise JoinError(
            f"the join token pins the hub's CA, but --hub {hub} is not https://: the token "
            "would cross the network in clear text; use the hub's https:// URL"
        )
    # Unverified on purpose, and without credentials: what arrives is checked below.
    async with httpx.AsyncClient(verify=False, timeout=FETCH_TIMEOUT) as client:
        try:
            async with client.stream("GET", f"{hub.rstrip('/')}/api/v1alpha1/ca") as answer:
                body = await _bounded(answer)
        except httpx.TransportError as e:
            raise HubUnreachable(f"{hub}: {e!r}") from e
    for pem in _certificates(body):
        with contextlib.suppress(ValueError):
            if fingerprint(pem) == expected:
                return pem
    raise JoinError(
        f"the hub at {hub} does not present the CA the join token pins ({expected}): it is "
        "not the hub the token was made for, or something between intercepts the "
        "connection; nothing was sent. Check --hub, or make a new token on that hub"
    )


async def _bounded(answer: httpx.Response) -> bytes:
    data = b""
    async for chunk in answer.aiter_bytes():
        data += chunk
        if len(data) > MAX_CA_BYTES:
            break
    return data if answer.status_code == 200 else b""


def _certificates(body: bytes) -> list[str]:
    try:
        found = json.loads(body).get("caCertificate")
    except (ValueError, AttributeError):
        return []
    if not isinstance(found, str):
        return []
    return [m.group(0) + "\n" for m in _PEM_CERT.finditer(found)]


def save_ca(data_dir: Path, pem: str) -> None:
    """Keep the pinned CA beside the credential (public, but only the agent needs it)."""
    tmp = data_dir / f".{HUB_CA_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    os.replace(tmp, data_dir / HUB_CA_FILE)
