"""The Kubernetes client's exception tree: an apiserver's refusal keeps the apiserver's
own words (its ``Status`` object), so that what the user reads in an assignment's
status is what ``kubectl apply`` would have printed."""

from __future__ import annotations

import json
from typing import Any


class KubeError(Exception):
    """The apiserver refused (``status`` is the HTTP status), or answered what the
    client cannot use."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        causes: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{message} ({status} {reason})" if status else message)
        self.status, self.reason, self.message = status, reason, message
        self.causes = causes
        """``(message, field)`` of each of the Status's ``details.causes``."""


class KubeUnreachable(KubeError):
    """No answer: connection refused or reset, TLS failure, timeout (status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unreachable", message)


def status_error(status: int, body: bytes, fallback: str) -> KubeError:
    """The KubeError for an error answer, from its ``Status`` body when it has one."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        text = body[:500].decode(errors="replace").strip()
        return KubeError(status, fallback, text or fallback)
    details = document.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    return KubeError(
        status,
        str(document.get("reason") or fallback),
        str(document.get("message") or fallback)[:4000],
        tuple(
            (str(c.get("message", ""))[:500], str(c.get("field", ""))[:500])
            for c in (causes if isinstance(causes, list) else ())[:64]
            if isinstance(c, dict)
        ),
    )
