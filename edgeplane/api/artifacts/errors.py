"""Why an artifact's content is refused: the member, the reason, and the limit if any."""

from __future__ import annotations

from edgeplane.api.artifacts.limits import flag_for

SHOWN = 200
"""Characters of a member's name quoted in a message: names may be 4,000 bytes long."""

PACK_INSIDE = "pack only files, directories and links that stay inside the artifact"


class ArtifactRefused(ValueError):
    """The tarball breaks a rule or a limit.

    ``member`` is the name as the tarball spells it (None when the whole body is at
    fault); ``limit`` is the ``--artifact-limit`` key that would let it through, when
    raising a limit can; ``fix`` says what to change otherwise.
    """

    def __init__(
        self, why: str, member: str | None = None, limit: str | None = None, fix: str = PACK_INSIDE
    ) -> None:
        super().__init__(why)
        self.why, self.member, self.limit, self.fix = why, member, limit, fix

    def explain(self, who: str) -> str:
        """The message for an operator; ``who`` says whose flag ("the hub's")."""
        subject = "the artifact" if self.member is None else f"member {shown(self.member)}"
        what = f"{subject} {self.why}"
        if self.limit is not None:
            return f"{what}: make the artifact smaller, or raise {who} {flag_for(self.limit)}"
        return f"{what}: {self.fix}"


def shown(name: str) -> str:
    """``name`` quoted with its control characters escaped, and cut when long."""
    return repr(name) if len(name) <= SHOWN else f"{name[:SHOWN]!r}…"
