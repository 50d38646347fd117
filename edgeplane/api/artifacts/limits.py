"""How much an artifact may hold once unpacked, and how the limits are spelled as flags.

The hub and the agent take the same ``--artifact-limit KEY=N`` flags (repeatable);
refusals name the key, so the message says which flag raises the limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

NAME_MAX = 255
"""Bytes in one path component: the file system's own limit, not a setting."""

PATH_MAX = 4000
"""Bytes in a member name at most, whatever the flags: the kernel's PATH_MAX (4096) less
room for the directory the artifact is unpacked in."""


@dataclass(frozen=True)
class ArtifactLimits:
    """The limits of one artifact's content (the compressed size is the caller's)."""

    unpacked_bytes: int = 1024 * 1024 * 1024
    members: int = 50_000
    ratio: int = 200
    name_bytes: int = 1024
    depth: int = 32


FLAG = "--artifact-limit"
KEYS = {
    "unpacked-bytes": "unpacked_bytes",
    "members": "members",
    "ratio": "ratio",
    "name-bytes": "name_bytes",
    "depth": "depth",
}
_PAIR = re.compile(r"(?P<key>[a-z-]{1,20})=(?P<value>[0-9]{1,19})")
_CEILING = {"name_bytes": PATH_MAX}


def flag_for(key: str) -> str:
    """How to raise the limit ``key``: ``--artifact-limit members=N``."""
    return f"{FLAG} {key}=N"


def parse_limits(pairs: Iterable[str], base: ArtifactLimits | None = None) -> ArtifactLimits:
    """``base`` (the defaults) with each ``KEY=N`` applied; ValueError names the bad one."""
    limits = base or ArtifactLimits()
    for pair in pairs:
        match = _PAIR.fullmatch(pair)
        field = KEYS.get(match["key"]) if match else None
        if match is None or field is None:
            raise ValueError(
                f"{FLAG} {pair!r}: write KEY=N with KEY one of {', '.join(KEYS)} "
                "and N a positive whole number"
            )
        value = int(match["value"])
        ceiling = _CEILING.get(field, 2**62)
        if not 1 <= value <= ceiling:
            raise ValueError(f"{FLAG} {pair!r}: N must be between 1 and {ceiling}")
        limits = dataclasses.replace(limits, **{field: value})
    return limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--artifact-limit KEY=N`` (repeatable), for the hub's and the agent's parsers."""
    defaults = ArtifactLimits()
    shown = ", ".join(f"{key}={getattr(defaults, field)}" for key, field in KEYS.items())
    parser.add_argument(
        FLAG,
        action="append",
        default=[],
        metavar="KEY=N",
        type=_checked_pair,
        help=f"Raise or lower one artifact limit (repeatable); defaults: {shown}.",
    )


def from_arguments(args: argparse.Namespace) -> ArtifactLimits:
    return parse_limits(args.artifact_limit)


def _checked_pair(pair: str) -> str:
    try:
        parse_limits([pair])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return pair
