"""Request bodies streamed to the hub (artifact uploads): bytes or a binary file, read
in chunks so a large tarball never sits in memory, with an optional progress callback.

Only the body's shape lives here; the request itself is built in ``client.hub``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import BinaryIO

Upload = bytes | BinaryIO
Progress = Callable[[int], None]
"""Called with the size of each chunk once it is handed to the transport."""

CHUNK_SIZE = 256 * 1024


def upload_size(data: Upload) -> int | None:
    """Bytes left to send, when they can be known without reading (else None: chunked)."""
    if isinstance(data, bytes):
        return len(data)
    try:
        return os.fstat(data.fileno()).st_size - data.tell()
    except (AttributeError, OSError, ValueError):  # a pipe, a socket, an in-memory stream
        return None


def _read(data: Upload, offset: int) -> bytes:
    if isinstance(data, bytes):
        return data[offset : offset + CHUNK_SIZE]
    return data.read(CHUNK_SIZE)


def chunks(data: Upload, progress: Progress | None = None) -> Iterator[bytes]:
    offset = 0
    while chunk := _read(data, offset):
        offset += len(chunk)
        yield chunk
        if progress:
            progress(len(chunk))


async def chunks_async(data: Upload, progress: Progress | None = None) -> AsyncIterator[bytes]:
    """As ``chunks``; file reads run in a thread so the event loop never waits on disk."""
    offset = 0
    while chunk := await asyncio.to_thread(_read, data, offset):
        offset += len(chunk)
        yield chunk
        if progress:
            progress(len(chunk))
