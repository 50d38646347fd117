"""Well-known names shared by the hub and the agent: the labels the hub puts on
``Assignment`` objects, and how an assignment is named.

Plain Python with no pydantic, so the site agent can use it without loading the models.
"""

from __future__ import annotations

import hashlib

SITE_LABEL = "edgeplane.io/site"
"""On every Assignment: the site it is for. Agents watch their own by this label."""

APPLICATION_LABEL = "edgeplane.io/application"
"""On every Assignment: the application it runs."""

MAX_SITE_NAME = 63
"""Site names are label values (``SITE_LABEL``), so at most 63 characters."""

_MAX_NAME = 253


def assignment_name(application: str, site: str) -> str:
    """``<application>.<site>``, shortened with a hash when over 253 characters."""
    name = f"{application}.{site}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{application[: _MAX_NAME - len(site) - 12]}-{digest}.{site}"
