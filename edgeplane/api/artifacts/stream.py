"""Gzip inflated under a ratio limit, and tar headers parsed by hand.

``tarfile`` does not read artifacts: Python 3.11.7's has known faults with hostile
input (PAX headers that make a regex backtrack for seconds, negative offsets that
loop), and its extraction filters have known bypasses. What is read here is what
``tar``, Python's ``tarfile`` and ``git archive`` write: ustar, GNU and V7 headers,
PAX ``x`` and ``g`` records and GNU long names. Anything else is refused, not guessed.
Both classes are pushed bytes and give back what they could make of them, so the hub
checks an upload while it arrives and never holds more than one block of it.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from edgeplane.api.artifacts.errors import ArtifactRefused

BLOCK = 512
RECORD_MAX = 64 * 1024
"""Bytes of one PAX record set or GNU long name: far over any name allowed."""

RATIO_FLOOR = 1024 * 1024
"""The ratio is judged once this much is inflated: a small tarball is mostly zero
padding, which compresses a thousandfold."""

STEP = 1024 * 1024
"""Bytes inflated at a time, so a bomb never sits in memory whole."""

_NOT_GZIP = "send a .tar.gz, or push a directory with `edgeplane artifact push DIR`"
_OCTAL = re.compile(rb"[0-7]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,19}")
_HIGH = bytes(range(128, 256))


class Kind(enum.Enum):
    FILE = "file"
    DIR = "directory"
    SYMLINK = "symbolic link"
    HARDLINK = "hard link"


@dataclass(frozen=True)
class Header:
    """One member as the tarball describes it, before any rule is applied."""

    name: str
    kind: Kind
    size: int
    linkname: str
    mode: int


class Inflater:
    """Gzip (one or more members) in, tar bytes out, refused past ``ratio``."""

    def __init__(self, ratio: int) -> None:
        self._ratio, self._zip = ratio, zlib.decompressobj(wbits=31)
        self.compressed = self.inflated = 0
        self._open = False  # inside a gzip member that has not ended

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.compressed += len(data)
        pending, full = data, False
        # A full STEP of output may leave more inside zlib with no input left: ask again.
        while pending or full:
            try:
                out = self._zip.decompress(pending, STEP)
            except zlib.error as e:
                raise ArtifactRefused(f"is not a gzip tarball ({e})", fix=_NOT_GZIP) from e
            self._open = self._open or bool(pending)
            if self._zip.eof:
                pending, self._zip = self._zip.unused_data, zlib.decompressobj(wbits=31)
                self._open = False
            else:
                pending = self._zip.unconsumed_tail
            full = len(out) == STEP
            self._count(len(out))
            if out:
                yield out

    def _count(self, size: int) -> None:
        self.inflated += size
        if self.inflated > RATIO_FLOOR and self.inflated > self._ratio * self.compressed:
            raise ArtifactRefused(
                f"inflates more than {self._ratio} times ({self.inflated} bytes from "
                f"{self.compressed})",
                limit="ratio",
            )

    def finish(self) -> None:
        if self.compressed == 0:
            raise ArtifactRefused("is empty", fix=_NOT_GZIP)
        if self._open:
            raise ArtifactRefused("is cut short (its gzip stream ends early)", fix=_NOT_GZIP)
        if self.inflated == 0:  # an empty archive is two zero blocks, never nothing
            raise ArtifactRefused("holds no tar archive", fix=_NOT_GZIP)


class TarParser:
    """Tar bytes in, ``Header``s (and, if wanted, file data) out."""

    def __init__(self, want_data: bool, max_records: int) -> None:
        self._want, self._max_records = want_data, max_records
        self._buf = bytearray()
        self._left = 0  # data bytes of the current member still to come
        self._skip = 0  # padding after them
        self._record: bytearray | None = None  # a PAX record set or GNU name being read
        self._record_type = b""
        self._next: dict[str, str] = {}  # what PAX and GNU records say of the next header
        self.records = 0
        self.ended = False
        self.current: str | None = None  # the member being read, for messages

    @property
    def between_members(self) -> bool:
        return not (self._buf or self._left or self._skip or self._record is not None)

    def feed(self, data: bytes) -> Iterator[Header | memoryview]:
        view = memoryview(data)
        while view and not self.ended:
            if self._left:
                take, view = view[: self._left], view[self._left :]
                self._left -= len(take)
                if self._record is not None:
                    self._collect(take)
                elif self._want:
                    yield take
            elif self._skip:
                skipped = min(self._skip, len(view))
                view, self._skip = view[skipped:], self._skip - skipped
            else:
                need = BLOCK - len(self._buf)
                self._buf += view[:need]
                view = view[need:]
                if len(self._buf) == BLOCK:
                    block = bytes(self._buf)
                    self._buf.clear()
                    if header := self._block(block):
                        yield header

    def _block(self, block: bytes) -> Header | None:
        if not any(block):
            self.ended = True  # as tarfile: the first zero block ends the archive
            return None
        _check_sum(block)
        type_ = block[156:157]
        size = _number(block[124:136], "size")
        if type_ in (b"x", b"g", b"L", b"K"):
            self._start_record(type_, size)
            return None
        header = self._member(block, type_, size)
        self._left, self._skip = size, -size % BLOCK
        return header

    def _start_record(self, type_: bytes, size: int) -> None:
        self.records += 1
        if self.records > self._max_records:
            raise ArtifactRefused("has more PAX or GNU records than members allow", limit="members")
        if size > RECORD_MAX:
            raise ArtifactRefused(f"has a PAX or GNU record of {size} bytes (at most {RECORD_MAX})")
        self._record, self._record_type = bytearray(), type_
        self._left, self._skip = size, -size % BLOCK
        if size == 0:
            self._collect(memoryview(b""))

    def _collect(self, data: memoryview) -> None:
        assert self._record is not None
        self._record += data
        if self._left:
            return
        record, self._record = bytes(self._record), None
        if self._record_type in (b"L", b"K"):
            key = "path" if self._record_type == b"L" else "linkpath"
            self._next[key] = _text(record.split(b"\0", 1)[0], "GNU long name")
        elif self._record_type == b"x":
            self._next.update(_pax(record))
        else:  # b"g": global records may not change names or sizes
            if changed := set(_pax(record)) & {"path", "linkpath", "size"}:
                raise ArtifactRefused(f"has a global PAX record that sets {sorted(changed)}")

    def _member(self, block: bytes, type_: bytes, size: int) -> Header:
        given, self._next = self._next, {}
        name = given.get("path") or _name(block)
        self.current = name
        if "size" in given:
            size = _decimal(given["size"], "PAX size")
        kind = _kind(type_, name)
        if kind is not Kind.FILE and size:
            raise ArtifactRefused(f"is a {kind.value} that carries {size} bytes of data", name)
        link = given.get("linkpath") or _text(block[157:257].split(b"\0", 1)[0], "link name")
        mode = _number(block[100:108], "mode") & 0o7777
        return Header(name, kind, size, link, mode)


_KINDS = {b"0": Kind.FILE, b"\0": Kind.FILE, b"7": Kind.FILE, b"5": Kind.DIR}
_KINDS |= {b"2": Kind.SYMLINK, b"1": Kind.HARDLINK}
_REFUSED = {b"3": "character device", b"4": "block device", b"6": "fifo", b"S": "sparse file"}


def _kind(type_: bytes, name: str) -> Kind:
    if type_ == b"\0" and name.endswith("/"):
        return Kind.DIR  # an old (V7) directory, as tarfile reads it
    if kind := _KINDS.get(type_):
        return kind
    what = _REFUSED.get(type_, f"member of unknown type {type_!r}")
    raise ArtifactRefused(f"is a {what}", name)


def _check_sum(block: bytes) -> None:
    stored = _number(block[148:156], "checksum")
    rest = block[:148] + block[156:]
    unsigned = sum(rest) + 8 * 32
    if stored == unsigned:
        return
    # Some old tars summed signed chars, as tarfile still accepts.
    signed = unsigned - 256 * (len(rest) - len(rest.translate(None, _HIGH)))
    if stored != signed:
        raise ArtifactRefused("has a header whose checksum is wrong (a damaged tarball)")


def _number(field: bytes, what: str) -> int:
    if field[0] & 0x80:
        if field[0] != 0x80:  # 0xff: a negative number
            raise ArtifactRefused(f"has a header with a negative {what}")
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    if not _OCTAL.fullmatch(digits):
        raise ArtifactRefused(f"has a header whose {what} is not an octal number")
    return int(digits, 8)


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise ArtifactRefused(f"has a {what} that is not a decimal number")
    return int(text)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactRefused(f"has a {what} that is not UTF-8") from e


def _name(block: bytes) -> str:
    name = _text(block[:100].split(b"\0", 1)[0], "name")
    if block[257:265] == b"ustar\x0000" and (prefix := block[345:500].split(b"\0", 1)[0]):
        return f"{_text(prefix, 'name prefix')}/{name}"
    return name


def _pax(record: bytes) -> dict[str, str]:
    """PAX records (``"LEN key=value\\n"``, LEN counting the whole record)."""
    found, at = {}, 0
    while at < len(record) and record[at]:
        space = record.find(b" ", at, at + 20)
        length = _decimal(_text(record[at:space], "PAX length"), "PAX length") if space > 0 else 0
        end = at + length
        if space < 0 or length <= space - at or end > len(record) or record[end - 1] != 0x0A:
            raise ArtifactRefused("has a malformed PAX record")
        key, equals, value = record[space + 1 : end - 1].partition(b"=")
        if not equals:
            raise ArtifactRefused("has a malformed PAX record")
        found[_text(key, "PAX key")] = _text(value, "PAX value")
        at = end
    if any(key.startswith("GNU.sparse") for key in found):
        raise ArtifactRefused("has a sparse file")
    return found
