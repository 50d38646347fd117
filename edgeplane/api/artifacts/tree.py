"""Which members an artifact may hold, and where its links lead in the final tree.

The rules make the tree simple enough to judge whole: every member's path is literal
(no ``..``, no absolute path, and no parent that is a file or a link, so nothing is
written *through* a link), no path is given twice (a later member never replaces an
earlier one, link or not), a hard link names an earlier regular file, and a symbolic
link must land inside once every member is in place. Links are judged only at the
end, against the final tree, the way the kernel would follow them (``..`` after a link
goes up from where the link led, not from where it stands). The agent creates the
symbolic links last, after every file, so no write can pass through one either.
"""

from __future__ import annotations

import re

from edgeplane.api.artifacts.errors import ArtifactRefused, shown
from edgeplane.api.artifacts.limits import NAME_MAX, ArtifactLimits
from edgeplane.api.artifacts.stream import Header, Kind

Path = tuple[str, ...]
MAX_LINK_HOPS = 40
"""Links followed within one another at most: the kernel's own limit (ELOOP)."""


class Tree:
    """The members seen so far; ``admit`` each in order, then ``finish``."""

    def __init__(self, limits: ArtifactLimits) -> None:
        self.limits = limits
        self.kinds: dict[Path, Kind] = {(): Kind.DIR}
        self.links: dict[Path, str] = {}
        self.members = self.unpacked = 0
        self._landed: dict[Path, Path | None] = {}
        self._following: set[Path] = set()

    def admit(self, header: Header) -> Path:
        """The member's normalised path, once it breaks no rule; else ArtifactRefused."""
        self.members += 1
        if self.members > self.limits.members:
            raise ArtifactRefused(
                f"is past the limit of {self.limits.members} members", header.name, "members"
            )
        path = self.path(header.name, header.name)
        self._count(header)
        self._place(path, header)
        if header.kind is Kind.HARDLINK:
            self._check_hardlink(header)
        elif header.kind is Kind.SYMLINK:
            self._check_symlink(header)
            self.links[path] = header.linkname
        return path

    def path(self, name: str, member: str) -> Path:
        """``name`` as a path inside the tree; ``member`` names the culprit."""
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > self.limits.name_bytes:
            raise ArtifactRefused(
                f"has a name of {size} bytes, over the limit of {self.limits.name_bytes}",
                member,
                "name-bytes",
            )
        if problem := _name_problem(name):
            raise ArtifactRefused(problem, member)
        parts = tuple(part for part in name.split("/") if part not in ("", "."))
        if len(parts) > self.limits.depth:
            raise ArtifactRefused(
                f"is {len(parts)} directories deep, over the limit of {self.limits.depth}",
                member,
                "depth",
            )
        return parts

    def _count(self, header: Header) -> None:
        if header.kind is not Kind.FILE:
            return
        self.unpacked += header.size
        if self.unpacked > self.limits.unpacked_bytes:
            raise ArtifactRefused(
                f"brings the unpacked size to {self.unpacked} bytes, over the limit of "
                f"{self.limits.unpacked_bytes}",
                header.name,
                "unpacked-bytes",
            )

    def _place(self, path: Path, header: Header) -> None:
        for end in range(1, len(path)):
            parent = path[:end]
            kind = self.kinds.setdefault(parent, Kind.DIR)
            if kind is not Kind.DIR:
                raise ArtifactRefused(
                    f"lies under {shown('/'.join(parent))}, which is a {kind.value}, "
                    "not a directory",
                    header.name,
                )
        before = self.kinds.get(path)
        if before is not None and not (before is Kind.DIR and header.kind is Kind.DIR):
            raise ArtifactRefused(
                f"is given twice (first as a {before.value}): a later member may not "
                "replace an earlier one",
                header.name,
            )
        self.kinds[path] = header.kind

    def _check_hardlink(self, header: Header) -> None:
        if header.linkname.startswith("/") or ".." in header.linkname.split("/"):
            raise ArtifactRefused(
                f"links outside the artifact (a hard link to {shown(header.linkname)})", header.name
            )
        target = self.path(header.linkname, header.name)
        if self.kinds.get(target) not in (Kind.FILE, Kind.HARDLINK):
            raise ArtifactRefused(
                f"is a hard link to {shown(header.linkname)}, which is not a regular file "
                "given earlier in the tarball",
                header.name,
            )

    def _check_symlink(self, header: Header) -> None:
        target = header.linkname
        if not target:
            raise ArtifactRefused("is a symbolic link without a target", header.name)
        if target.startswith("/"):
            raise ArtifactRefused(
                f"links outside the artifact (to {shown(target)}, an absolute path)", header.name
            )
        if len(target.encode("utf-8", "surrogatepass")) > self.limits.name_bytes:
            raise ArtifactRefused(
                f"links to a target over the limit of {self.limits.name_bytes} bytes",
                header.name,
                "name-bytes",
            )
        if problem := _name_problem(target, up=True):
            raise ArtifactRefused(f"links to a target that {problem}", header.name)

    def finish(self) -> None:
        """Judge every symbolic link against the final tree."""
        for link, target in self.links.items():
            if self._land(link, 0) is None:
                raise ArtifactRefused(
                    f"links outside the artifact, or in a loop ({shown(target)})", "/".join(link)
                )

    def _land(self, link: Path, nesting: int) -> Path | None:
        """Where the link at ``link`` leads, every link on the way followed; None when
        that is outside the tree or a loop."""
        if link in self._landed:
            return self._landed[link]
        if link in self._following or nesting > MAX_LINK_HOPS:
            return None
        self._following.add(link)
        at: Path | None = link[:-1]
        for part in self.links[link].split("/"):
            if at is None:
                break
            at = self._step(at, part, nesting)
        self._following.discard(link)
        self._landed[link] = at
        return at

    def _step(self, at: Path, part: str, nesting: int) -> Path | None:
        if part in ("", "."):
            return at
        if part == "..":
            return at[:-1] if at else None
        at = (*at, part)
        return self._land(at, nesting + 1) if at in self.links else at


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0, DEL and C1 controls, and lone surrogates: no program needs them in a file name,
and they forge lines and escape sequences wherever a name is shown."""


def _name_problem(name: str, up: bool = False) -> str | None:
    """Why a member name (or with ``up``, a link target) is no safe name, or None."""
    if name.startswith("/"):
        return "has an absolute path"
    parts = name.split("/")
    if not up and ".." in parts:
        return "has '..' in its path"
    if _CONTROL.search(name):
        return "has a control character in its name"
    if any(len(part.encode("utf-8")) > NAME_MAX for part in parts):
        return f"has a path component over {NAME_MAX} bytes (the file system's limit)"
    return None
