"""The contexts file: where the hub is and which token to use, like a kubeconfig.

``~/.edgeplane/config.yaml`` (or ``$EDGEPLANE_CONFIG``)::

    current-context: local
    contexts:
    - {name: local, server: http://127.0.0.1:8080, token: ep_...}

It holds tokens, so it is written with mode 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ConfigError(Exception):
    """The config file is unreadable or names a context that is not in it."""


@dataclass(frozen=True)
class Target:
    """A resolved hub URL and token."""

    server: str
    token: str | None


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
    path: Path, name: str, server: str, token: str | None, make_current: bool = True
) -> None:
    """Create or replace the context ``name``; make it current when asked (or when none is)."""
    data = load_config(path)
    contexts = [c for c in data["contexts"] if c.get("name") != name]
    contexts.append({"name": name, "server": server, "token": token})
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
) -> Target:
    """Where to connect: flags win over $EDGEPLANE_SERVER/$EDGEPLANE_TOKEN, which win
    over the context (``context``, else the current one) of the config file."""
    data = load_config(path)
    chosen: dict[str, Any] = {}
    if name := context or data.get("current-context"):
        chosen = find_context(data, str(name))
    return Target(
        server=(
            server or os.environ.get("EDGEPLANE_SERVER") or chosen.get("server") or DEFAULT_SERVER
        ).rstrip("/"),
        token=token or os.environ.get("EDGEPLANE_TOKEN") or chosen.get("token"),
    )
