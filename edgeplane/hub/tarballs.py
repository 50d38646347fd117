"""Whether an uploaded tarball unpacks inside its own directory, and nowhere else.

Each member is followed the way extraction would follow it: through the links the
archive made before it. A plain look at the names is not enough: with ``s -> .``
stored first, ``s/s/l -> ../x`` looks one level deep but lands at the top, so its
``..`` leaves the directory. Devices and fifos are refused outright: an artifact
holds a program and its files.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit: a cycle of links is refused


class UnsafeTarball(Exception):
    """The body is no gzip tarball, or a member would land outside."""


class _Tree:
    """The symbolic links extracted so far, to resolve paths the way the kernel will."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, ...], str] = {}

    def resolve(self, path: PurePosixPath, base: tuple[str, ...] = ()) -> tuple[str, ...] | None:
        """Where ``path`` (relative to ``base``) lands, following every link but the
        last component; None when it leaves the top directory or loops."""
        hops = 0
        todo, at = list(path.parts), list(base)
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not at:
                    return None
                at.pop()
                continue
            at.append(part)
            target = self.links.get(tuple(at))
            if target is not None and todo:  # a link on the way is followed
                hops += 1
                if hops > MAX_LINK_HOPS or target.startswith("/"):
                    return None
                at.pop()
                todo = list(PurePosixPath(target).parts) + todo
        return tuple(at)


def problem(member: tarfile.TarInfo, tree: _Tree) -> str | None:
    """Why extracting ``member`` next would write or point outside, or None."""
    path = PurePosixPath(member.name)
    if path.is_absolute():
        return "has an absolute path"
    if ".." in path.parts:
        return "has '..' in its path"
    if member.ischr() or member.isblk() or member.isfifo():
        return "is a device or a fifo"
    landing = tree.resolve(path)
    if landing is None:
        return "lands outside the artifact, or in a loop, through a link in its path"
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = landing[:-1] if member.issym() else ()
        if target.is_absolute() or tree.resolve(target / "_", base) is None:
            return f"links outside the artifact ({member.linkname})"
    if member.issym() and landing:
        # Kept even when a later file has the same name: extraction writes through it.
        tree.links[landing] = member.linkname
    return None


def check_tarball(path: Path) -> None:
    """Raise UnsafeTarball naming the first bad member, or the format problem."""
    tree = _Tree()
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if why := problem(member, tree):
                    raise UnsafeTarball(
                        f"member {member.name!r} {why}: pack the files relative to the "
                        "artifact's own directory"
                    )
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UnsafeTarball(
            f"the body is not a gzip tarball ({e}): send a .tar.gz, or push a directory "
            "with `edgeplane artifact push DIR`"
        ) from e
