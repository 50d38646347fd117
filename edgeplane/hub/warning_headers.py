"""``Warning`` headers (RFC 7234, as Kubernetes sends admission warnings) that any text
can go into without breaking the answer.

Warnings are written after the store has committed the write, and h11 refuses a header
with CR, LF or other control characters (and Starlette one that is not latin-1) by
raising: the client then lost the answer to a write that happened. So every warning is
made header-safe here: control characters become visible escapes (``\\n``, ``\\x1b``),
text beyond latin-1 is sent as UTF-8 bytes (``obs-text``, which httpx decodes back),
``\\`` and ``"`` are quoted as RFC 7230 quoted-pairs, and the header is bounded
(``MAX_WARNING_CHARS`` a warning, ``MAX_WARNINGS_CHARS`` in all; what does not fit is
counted in a last warning) so it stays far below any client's header limit.
"""

from __future__ import annotations

import re

MAX_WARNING_CHARS = 512
MAX_WARNINGS_CHARS = 4096

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _visible(match: re.Match[str]) -> str:
    char = match[0]
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or f"\\x{ord(char):02x}"


def header_text(warning: str) -> str:
    """One warning as the inside of a quoted-string: printable, quoted, bounded."""
    text = _CONTROL.sub(_visible, warning)
    if len(text) > MAX_WARNING_CHARS:
        text = text[: MAX_WARNING_CHARS - 3] + "..."
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    # Starlette encodes header values as latin-1: UTF-8 bytes pass through as obs-text.
    return quoted.encode("utf-8").decode("latin-1")


def warning_header(warnings: list[str]) -> dict[str, str]:
    """``{"Warning": '299 - "...", 299 - "..."'}``, or nothing without warnings."""
    parts: list[str] = []
    size = 0
    for count, warning in enumerate(warnings):
        part = f'299 - "{header_text(warning)}"'
        if size + len(part) > MAX_WARNINGS_CHARS:
            parts.append(f'299 - "{len(warnings) - count} more warnings not shown"')
            break
        parts.append(part)
        size += len(part) + 2
    return {"Warning": ", ".join(parts)} if parts else {}
