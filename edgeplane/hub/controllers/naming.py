"""Who owns an Assignment's name: the check the placement controller makes before it
writes one, so two applications can never overwrite each other's Assignment.

Names come from ``api.wellknown.assignment_name`` and end in a hash of (application,
site), so a collision takes a SHA-256 collision in 40 bits; this check makes even that
harmless. The name's holder keeps it (an Assignment already stored, then the first
application of the pass); the other application keeps what it runs and is told why.
"""

from __future__ import annotations

from collections.abc import Mapping

from edgeplane.api.wellknown import assignment_owner
from edgeplane.api.wire import Object

Problem = tuple[str, str]
"""(reason, message) of an application's Placed=False condition."""


def name_collision(
    rendered: Mapping[str, Object], desired: Mapping[str, Object], stored: Mapping[str, Object]
) -> Problem | None:
    """Why ``rendered`` (one application's Assignments by name) may not be written:
    one of its names is held by another application or site; None when all are free."""
    for name, obj in rendered.items():
        mine = assignment_owner(obj)
        for holder in (stored.get(name), desired.get(name)):
            if holder is not None and assignment_owner(holder) != mine:
                app, site = assignment_owner(holder)
                return (
                    "NameCollision",
                    f"its Assignment at site {mine[1]} would be named {name}, which the "
                    f"Assignment of application {app} at site {site} holds: rename this "
                    "application (nothing was overwritten)",
                )
    return None
