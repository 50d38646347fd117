"""The agent's exception tree: every failure talking to the hub or joining the fleet
is one of these, with the third-party cause chained (``raise ... from e``)."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class HubUnreachable(AgentError):
    """No answer from the hub: connection refused, timed out, or cut mid-stream."""


class HubRefused(AgentError):
    """The hub answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{message} ({status} {reason})")
        self.status, self.reason, self.message, self.field = status, reason, message, field


class Gone(AgentError):
    """The watch's resourceVersion is no longer retained: list again."""


class JoinError(AgentError):
    """Joining the fleet failed; the message says what to do."""
