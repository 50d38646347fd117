"""How the Kubernetes client proves who it is and checks whom it talks to: the TLS
context (the cluster's CA, a client certificate) and the bearer token, re-read from its
file when the kubelet rotates it. Built from a ``config.KubeConfig``; used by ``client``.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Generator
from pathlib import Path

import httpx

from edgeplane.agent.runtimes.kubernetes.config import MAX_TOKEN_BYTES, KubeConfig, KubeConfigError


class BearerAuth(httpx.Auth):
    """The token, or the token file's content, read again when the file changes (the
    kubelet rotates projected service account tokens): the file wins, as in client-go."""

    def __init__(self, token: str | None, token_file: Path | None) -> None:
        self._token, self._file = token, token_file
        self._stamp: tuple[int, int, int] | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._read() if self._file is not None else self._token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _read(self) -> str | None:
        assert self._file is not None
        try:
            stat = os.stat(self._file)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp != self._stamp:
                with open(self._file, "rb") as f:
                    self._token = f.read(MAX_TOKEN_BYTES).decode(errors="replace").strip()
                self._stamp = stamp
        except OSError:
            pass  # keep the last token read: the kubelet swaps the file's symlink
        return self._token


def ssl_context(config: KubeConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if config.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif config.ca_pem is None:
        context.load_default_certs()
    else:
        try:
            context.load_verify_locations(cadata=config.ca_pem.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as e:
            raise KubeConfigError(
                "certificate-authority: not a PEM certificate: give the cluster's CA"
            ) from e
    if config.client_cert_pem is not None and config.client_key_pem is not None:
        _load_client_certificate(context, config.client_cert_pem, config.client_key_pem)
    return context


def _load_client_certificate(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads a certificate chain only from files: written in a private directory
    (0700, files 0600) and removed as soon as the context holds them."""
    with tempfile.TemporaryDirectory(prefix="edgeplane-kube-") as directory:
        files = Path(directory) / "client.crt", Path(directory) / "client.key"
        for file, data in zip(files, (cert, key), strict=True):
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as f:
                f.write(data)
        try:
            context.load_cert_chain(files[0], files[1])
        except ssl.SSLError as e:
            raise KubeConfigError(
                "client-certificate / client-key: not a PEM certificate and its key: "
                "give the user's certificate and private key"
            ) from e
