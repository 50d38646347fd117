"""Hostile and harmless tarballs built member by member with ``tarfile.TarInfo``, for
the tests of the hub's upload check, the agent's unpacking and the security suite."""

from __future__ import annotations

import io
import tarfile

FILE, DIR, SYM, HARD = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
Member = tuple[str, bytes, str]
"""(name, type, link target); files get the content ``b"x"``."""


def packed(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A .tar.gz of ``members``, in order, exactly as given (no checks)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt) as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o755 if kind == DIR else 0o644
            info.size = 1 if kind == FILE else 0
            tar.addfile(info, io.BytesIO(b"x") if kind == FILE else None)
    return buffer.getvalue()


class _Zeros:
    def read(self, size: int) -> bytes:
        return bytes(size)


def bomb(unpacked: int, name: str = "zeros") -> bytes:
    """One file of ``unpacked`` zero bytes: about a thousandth of that, compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo(name)
        info.size = unpacked
        tar.addfile(info, _Zeros())  # type: ignore[arg-type]
    return buffer.getvalue()


def many(count: int) -> bytes:
    """``count`` empty files: headers only, a few dozen bytes each compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for n in range(count):
            tar.addfile(tarfile.TarInfo(f"f{n}"))
    return buffer.getvalue()
