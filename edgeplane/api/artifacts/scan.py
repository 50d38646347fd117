"""One artifact tarball checked as it streams: inflate, parse, admit each member.

The hub feeds an upload's chunks as they arrive and needs no data; the agent feeds the
downloaded file and writes each member's data as it comes. Either way a refusal comes
as soon as the first rule or limit is broken, and names the member being read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from edgeplane.api.artifacts.errors import ArtifactRefused, shown
from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.api.artifacts.stream import Header, Inflater, TarParser
from edgeplane.api.artifacts.tree import Path, Tree

RECORDS_PER_MEMBER = 3
"""PAX and GNU records a member may bring (a PAX set, a long name, a long link name)."""


@dataclass(frozen=True)
class Entry:
    """A member admitted: its normalised path, and the header it came with."""

    path: Path
    header: Header


class TarballScan:
    def __init__(self, limits: ArtifactLimits, want_data: bool = False) -> None:
        self.limits = limits
        self._inflater = Inflater(limits.ratio)
        self._parser = TarParser(want_data, RECORDS_PER_MEMBER * limits.members + 16)
        self.tree = Tree(limits)

    def feed(self, data: bytes) -> Iterator[Entry | memoryview]:
        """Entries admitted and (when wanted) their data, in tarball order."""
        try:
            for piece in self._inflater.feed(data):
                for event in self._parser.feed(piece):
                    if isinstance(event, Header):
                        yield Entry(self.tree.admit(event), event)
                    else:
                        yield event
                if self._parser.ended:
                    return  # what follows the end of the archive is never read
        except ArtifactRefused as refused:
            if refused.member is None and refused.limit is not None:
                refused.member = self._parser.current
            raise

    def check(self, data: bytes) -> None:
        """``feed`` for a caller that needs no data (the hub)."""
        for _ in self.feed(data):
            pass

    def finish(self) -> None:
        """After the last byte: refuse a cut tarball, then judge the links."""
        if not self._parser.ended:
            self._inflater.finish()
            if not self._parser.between_members:
                raise ArtifactRefused(
                    f"is cut short (in member {shown(self._parser.current or '')})",
                    fix="send the whole file",
                )
        self.tree.finish()
