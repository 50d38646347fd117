"""The contexts file: where the hub is, which token to use and which CA to trust, like
a kubeconfig.

``~/.edgeplane/config.yaml`` (or ``$EDGEPLANE_CONFIG``)::

    current-context: local
    contexts:
    - name: local
      server: https://127.0.0.1:8080
      token: ep_...
      certificate-authority-data: LS0tLS1CRUdJTi...   # base64 of the hub CA's PEM

It holds tokens, so it is written with mode 0600. A context without a CA trusts the
system's CAs (a hub behind a publicly trusted certificate).
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVER = "https://127.0.0.1:8080"
CA_DATA = "certificate-authority-data"
CA_FILE_ENV = "EDGEPLANE_CERTIFICATE_AUTHORITY"
MAX_CA_BYTES = 256 * 1024


class ConfigError(Exception):
    """The config file is unreadable or names a context that is not in it."""


@dataclass(frozen=True)
class Target:
    """A resolved hub URL, token and the CA (PEM) to trust for it."""

    server: str
    token: str | None
    ca_pem: str | None = None

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies the hub with: the context's CA, else the system's."""
        return ssl_context(self.ca_pem) if self.ca_pem else True


def ssl_context(ca_pem: str) -> ssl.SSLContext:
    """A client context trusting only ``ca_pem``; a ConfigError when it is no CA."""
    try:
        return ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as e:
        raise ConfigError(f"the certificate authority is not a PEM certificate: {e}") from e


def read_ca_file(path: str | Path) -> str:
    """The PEM text of a CA file given by flag or environment."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CA_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read the certificate authority {path}: {e.strerror}") from e
    if len(data) > MAX_CA_BYTES or b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(f"{path} is not a PEM certificate (the hub's is <data-dir>/tls/ca.crt)")
    return data.decode("ascii", errors="replace")


def _context_ca(context: dict[str, Any]) -> str | None:
    raw = context.get(CA_DATA)
    if not raw:
        return None
    try:
        return base64.b64decode(str(raw), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ConfigError(
            f"context {context.get('name')!r}: {CA_DATA} is not base64 of a PEM certificate"
        ) from e


def config_path(explicit: str | Path | None = None) -> Path:
    """The ``--config`` flag, else ``$EDGEPLANE_CONFIG``, else ``~/.edgeplane/config.yaml``."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("EDGEPLANE_CONFIG"):
        return Path(env)
    return Path.home() / ".edgeplane" / "config.yaml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The file's contents; an empty config when the file does not exist yet."""
    path = config_path(path)
    if not path.exists():
        return {"current-context": None, "contexts": []}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("contexts", []), list):
        raise ConfigError(f"{path}: expected 'current-context' and a list of 'contexts'")
    data.setdefault("contexts", [])
    return data


def save_config(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, readable by the owner only (the file holds tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def add_context(
    path: Path,
    name: str,
    server: str,
    token: str | None,
    make_current: bool = True,
    ca_pem: str | None = None,
) -> None:
    """Create or replace the context ``name``; make it current when asked (or when none is)."""
    data = load_config(path)
    contexts = [c for c in data["contexts"] if c.get("name") != name]
    context: dict[str, Any] = {"name": name, "server": server, "token": token}
    if ca_pem:
        context[CA_DATA] = base64.b64encode(ca_pem.encode()).decode()
    contexts.append(context)
    data["contexts"] = contexts
    if make_current or not data.get("current-context"):
        data["current-context"] = name
    save_config(path, data)


def find_context(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The context called ``name``; a ConfigError listing the known ones otherwise."""
    for context in data["contexts"]:
        if context.get("name") == name:
            return dict(context)
    known = ", ".join(str(c.get("name")) for c in data["contexts"]) or "none"
    raise ConfigError(
        f"no context named {name!r} (known: {known}); add one with "
        "'edgeplane config set-context NAME --server URL --token TOKEN'"
    )


def resolve(
    context: str | None = None,
    server: str | None = None,
    token: str | None = None,
    *,
    path: Path | None = None,
    ca_file: str | Path | None = None,
) -> Target:
    """Where to connect: flags win over $EDGEPLANE_SERVER/$EDGEPLANE_TOKEN/
    $EDGEPLANE_CERTIFICATE_AUTHORITY, which win over the context (``context``, else the
    current one) of the config file."""
    data = load_config(path)
    chosen: dict[str, Any] = {}
    if name := context or data.get("current-context"):
        chosen = find_context(data, str(name))
    ca_file = ca_file or os.environ.get(CA_FILE_ENV)
    return Target(
        server=(
            server or os.environ.get("EDGEPLANE_SERVER") or chosen.get("server") or DEFAULT_SERVER
        ).rstrip("/"),
        token=token or os.environ.get("EDGEPLANE_TOKEN") or chosen.get("token"),
        ca_pem=read_ca_file(ca_file) if ca_file else _context_ca(chosen),
    )
