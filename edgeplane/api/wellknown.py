"""Well-known names shared by the hub and the agent: the labels the hub puts on
``Assignment`` objects, the label prefix reserved to the hub and its admins, and how
assignments and revisions are named.

Plain Python with no pydantic, so the site agent can use it without loading the models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

SITE_LABEL = "edgeplane.io/site"
"""On every Assignment: the site it is for. Agents watch their own by this label."""

APPLICATION_LABEL = "edgeplane.io/application"
"""On every Assignment and Revision: the application it runs (or belongs to)."""

RESERVED_DOMAIN = "edgeplane.io"
"""Label keys under this prefix (or a subdomain of it) are the hub's and the admins':
a site may not give them to itself, at a join or in its status."""

MAX_SITE_NAME = 63
"""Site names are label values (``SITE_LABEL``), so at most 63 characters."""

_MAX_NAME = 253
_HASH = 10
"""Hex digits of the hash that ends every assignment name (40 bits)."""


def reserved_label(key: str) -> bool:
    """Whether ``key`` has the ``edgeplane.io/`` prefix, or one of its subdomains."""
    prefix, slash, _ = key.rpartition("/")
    return bool(slash) and (prefix == RESERVED_DOMAIN or prefix.endswith(f".{RESERVED_DOMAIN}"))


def assignment_name(application: str, site: str) -> str:
    """``<application>.<site>.<hash>``: readable, and unambiguous although both names
    may hold dots (``web`` at ``a.b`` and ``web.a`` at ``b`` would both read ``web.a.b``).

    The hash covers the pair with a separator no name can contain, so two pairs share
    a name only if SHA-256 collides in its first 40 bits; the placement controller
    still checks each name's owner before writing. Over 253 characters, the readable
    part is cut (the hash still covers the whole pair).
    """
    digest = hashlib.sha256(f"{application}/{site}".encode()).hexdigest()[:_HASH]
    readable = f"{application}.{site}"
    room = _MAX_NAME - _HASH - 1
    if len(readable) > room:
        readable = readable[:room].rstrip(".-")
    return f"{readable}.{digest}"


def assignment_owner(assignment: Mapping[str, object]) -> tuple[str, str]:
    """``(application, site)`` of a stored Assignment, from its spec (never parsed out
    of its name)."""
    spec = assignment.get("spec")
    if not isinstance(spec, dict):
        return "", ""
    return str(spec.get("application", "")), str(spec.get("site", ""))


def revision_name(application: str, revision: int) -> str:
    """``<application>.r<revision>``: unambiguous as it is, since a revision number holds
    no dot. Over 253 characters, the application part is cut and a hash of the pair
    added (hex digits hold no ``r``, so a cut name never equals an uncut one)."""
    suffix = f".r{revision}"
    if len(application) + len(suffix) <= _MAX_NAME:
        return f"{application}{suffix}"
    digest = hashlib.sha256(f"{application}/{revision}".encode()).hexdigest()[:_HASH]
    room = _MAX_NAME - len(suffix) - _HASH - 1
    return f"{application[:room].rstrip('.-')}{suffix}.{digest}"
