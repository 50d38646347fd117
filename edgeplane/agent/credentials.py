"""Joining the fleet: a single-use join token is exchanged once for this site's own
credential, which is kept in the data dir (mode 0600) and reused on every restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.backoff import Backoff
from edgeplane.agent.errors import HubRefused, HubUnreachable, JoinError
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.layout import open_private, private_dir
from edgeplane.agent.pinning import fetch_pinned_ca, pinned_context, save_ca, split_join_token

CREDENTIAL_FILE = "credential"
IDENTITY_FILE = "identity.json"

log = logging.getLogger("edgeplane.agent")


@dataclass(frozen=True)
class Identity:
    hub: str
    site: str
    token: str


def write_private(path: Path, content: str | bytes) -> None:
    """Write a file only its owner can read, atomically: a crash leaves the old file or
    the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_identity(data_dir: Path) -> Identity | None:
    credential, identity = data_dir / CREDENTIAL_FILE, data_dir / IDENTITY_FILE
    if not credential.exists():
        return None
    facts = json.loads(identity.read_text())
    return Identity(facts["hub"], facts["site"], credential.read_text().strip())


def save_identity(data_dir: Path, identity: Identity) -> None:
    private_dir(data_dir)
    write_private(data_dir / CREDENTIAL_FILE, identity.token + "\n")
    write_private(
        data_dir / IDENTITY_FILE, json.dumps({"hub": identity.hub, "site": identity.site}) + "\n"
    )


async def join(
    hub: str,
    token: str,
    site: str,
    labels: dict[str, str],
    inventory: dict[str, Any],
    give_up_after: float = 60.0,
    data_dir: Path | None = None,
) -> str:
    """Exchange ``token`` for the site's credential; retries while the hub is unreachable.

    A token that pins the hub's CA has it checked first, and kept in ``data_dir``: the
    secret is only ever sent over TLS verified against that CA (``agent.pinning``)."""
    secret, pinned = split_join_token(token)
    deadline = time.monotonic() + give_up_after
    verify = await _pinned_verify(hub, pinned, data_dir, deadline) if pinned else True
    link, backoff = HubLink(hub, verify=verify), Backoff()
    body = {"token": secret, "site": site, "labels": labels, "inventory": inventory}
    try:
        while True:
            try:
                answer = await link.call("POST", f"{API}/join", body)
                return str(answer["credential"])
            except HubRefused as e:
                raise JoinError(f"joining {hub} as site {site!r} was refused: {e.message}") from e
            except HubUnreachable as e:
                if time.monotonic() > deadline:
                    raise JoinError(f"the hub at {hub} is unreachable: {e}") from e
                log.warning("hub unreachable while joining, retrying: %s", e)
                await asyncio.sleep(backoff.next())
    finally:
        await link.close()


async def _pinned_verify(
    hub: str, pinned: str, data_dir: Path | None, deadline: float
) -> ssl.SSLContext:
    backoff = Backoff()
    while True:
        try:
            pem = await fetch_pinned_ca(hub, pinned)
            break
        except HubUnreachable as e:
            if time.monotonic() > deadline:
                raise JoinError(f"the hub at {hub} is unreachable: {e}") from e
            log.warning("hub unreachable while fetching its CA, retrying: %s", e)
            await asyncio.sleep(backoff.next())
    if data_dir is not None:
        save_ca(data_dir, pem)
    return pinned_context(pem)


async def obtain_identity(
    data_dir: Path,
    hub: str | None,
    join_token: str | None,
    site: str | None,
    labels: dict[str, str],
    inventory: dict[str, Any],
) -> Identity:
    """The stored identity, or a new one made by joining with ``join_token``."""
    known = load_identity(data_dir)
    if known is not None:
        if site and site != known.site:
            raise JoinError(
                f"{data_dir} belongs to site {known.site!r}, not {site!r}: "
                "use another --data-dir for another site"
            )
        return Identity(hub or known.hub, known.site, known.token)
    if not (hub and join_token and site):
        raise JoinError(
            f"{data_dir} holds no site credential yet: pass --hub URL, --name SITE and "
            "--join-token-file FILE or $EDGEPLANE_JOIN_TOKEN (make a token with "
            "`edgeplane site token`)"
        )
    credential = await join(hub, join_token, site, labels, inventory, data_dir=data_dir)
    identity = Identity(hub, site, credential)
    save_identity(data_dir, identity)
    return identity
