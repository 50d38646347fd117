"""What the placement controller reads, judged before it is used: one object the API
would refuse now (written by an older hub, or into the database by hand: ``replicas:
1e30``, a field missing) is left out and reported, never the end of a pass.

Applications, Sites, SiteGroups and Devices are validated by the API's own models,
once per resourceVersion (in the worker thread: ten thousand sites cost a second the
first time). Assignments, which are many and written by the controller itself, get a
structural check of the fields placement reads. An Application's status is the
controller's own and is not judged (it is rewritten).
"""

from __future__ import annotations

import logging

from edgeplane.api.validation import InvalidObject, validate_object
from edgeplane.api.wire import Object
from edgeplane.placement.model import MAX_REPLICAS
from edgeplane.placement.views import app_view, site_view
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.placement")

MAX_PROBLEM = 2000
"""Characters of a problem put in a status message."""


class Loaded:
    """Objects by kind and name with their resourceVersion and verdict, so an unchanged
    object is judged once; what was deleted is forgotten on the next read."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, tuple[object, str | None]]] = {}

    def valid(self, kind: str, objs: list[Object]) -> tuple[list[Object], dict[str, str]]:
        """The objects that pass, and why each other one does not (by name)."""
        if kind == "Assignment":
            return [o for o in objs if _assignment_ok(o)], {}
        before, now = self._seen.get(kind, {}), {}
        good, bad = [], {}
        for obj in objs:
            meta = obj.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            name, version = str(meta.get("name")), meta.get("resourceVersion")
            found = before.get(name)
            if found is None or found[0] != version or version is None:
                found = (version, problem(kind, obj))
                if found[1]:
                    log.warning("%s %s is left out of placement: %s", kind, name, found[1])
            now[name] = found
            if found[1] is None:
                good.append(obj)
            else:
                bad[name] = found[1]
        self._seen[kind] = now
        return good, bad


def problem(kind: str, obj: Object) -> str | None:
    """Why ``obj`` cannot be placed from (None: it can)."""
    judged = {k: v for k, v in obj.items() if k != "status"} if kind == "Application" else obj
    try:
        validate_object(judged, expected_kind=kind)
        if kind == "Application":
            app_view(obj)
        elif kind == "Site":
            site_view(obj)
    except InvalidObject as e:
        return f"{e}; fix it with a replace, or delete it"[:MAX_PROBLEM]
    except Exception as e:  # a view that cannot be built is as bad as a schema error
        return f"{kind} cannot be read: {type(e).__name__}: {e}"[:MAX_PROBLEM]
    return None


def _assignment_ok(obj: Object) -> bool:
    """The fields placement reads, of the types it needs; one that fails is not counted
    as held, and the controller deletes it (it is not among those it wants)."""
    meta, spec = obj.get("metadata"), obj.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return False
    replicas = spec.get("replicas", 1)
    return (
        isinstance(meta.get("name"), str)
        and isinstance(spec.get("application"), str)
        and isinstance(spec.get("site"), str)
        and type(replicas) is int
        and 0 <= replicas <= MAX_REPLICAS
    )


async def list_all(store: Store, kind: str) -> list[Object]:
    items, token = [], None
    while True:
        page = await store.list(kind, None, 1000, token)
        items += page.items
        if not (token := page.continue_token):
            return items
