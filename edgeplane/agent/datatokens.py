"""``EDGEPLANE_DATA_TOKEN``: which assignment's workload calls the publishing endpoint.

A token is an HMAC of the assignment's name under a secret kept in the data dir (made
once, 0600), so it says which assignment (hence which application) publishes records
or reports metrics, no workload can make another's, and it stays the same across
agent restarts (workloads that outlive the agent keep theirs). Used by ``agent.data``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

from edgeplane.agent.credentials import write_private


class DataTokens:
    def __init__(self, secret_file: Path) -> None:
        self._secret = _secret(secret_file)

    def of(self, assignment: str) -> str:
        """The token of ``assignment``'s workloads."""
        return hmac.new(self._secret, assignment.encode(), hashlib.sha256).hexdigest()

    def holder(self, token: str | None, assignments: Iterable[str]) -> str | None:
        """The assignment among ``assignments`` whose token ``token`` is, if any."""
        if not token:
            return None
        for name in assignments:
            if hmac.compare_digest(self.of(name), token):
                return name
        return None


def _secret(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        write_private(path, secret)
        return secret
