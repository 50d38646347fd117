"""What an operator does to an application's rollout, and its history of revisions.

* ``POST /applications/{name}/rollout`` (admin) ``{"action": ..., "toRevision": N,
  "wave": i | "name"}``: ``pause``, ``resume``, ``promote`` (skip the soak of a wave),
  ``abort`` and ``approve`` (a wave that waits for approval) write
  ``status.rollout.control`` for the current target revision, which the rollout
  controller (``hub.controllers.rollouts``) reads at its next pass; ``undo`` writes the
  application's workload, resources and overrides back from a stored ``Revision``
  through the same checks and admission as any update of the application. 202 with the
  rollout status.
* ``GET /applications/{name}/revisions``: the application's revisions, newest first,
  without their templates unless ``?template=true``.

Sites may call neither (``hub.authz`` lists no such route for them). Neighbours: the
controller keeps the ``Revision`` objects (``hub.controllers.revisions``) and the
rollout status; this module only reads them, and writes what the operator asked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.labels import check_label_value
from edgeplane.api.selectors import Operator, Selector, make_requirement
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wellknown import APPLICATION_LABEL
from edgeplane.api.wire import Object
from edgeplane.hub.admission import warning_headers
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.store.errors import Conflict
from edgeplane.store.objects import without_status
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")

CONTROLS = ("pause", "resume", "promote", "abort", "approve")
ACTIONS = (*CONTROLS, "undo")
FINISHED = frozenset({"Succeeded", "RolledBack", "Aborted"})
"""Phases no control changes any more: a new revision starts a new rollout."""
TEMPLATE_KEYS = ("workload", "resources", "overrides")
ATTEMPTS = 8
"""Writes retried on a resourceVersion conflict (the controller writes status too)."""
MAX_REVISIONS = 10_000
"""Revisions listed at most: history is bounded (100), but revisions still run are kept."""
PAGE = 1000


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f"{field}: {message}", field)


def _action(body: dict[str, Any]) -> str:
    action = body.get("action")
    if action not in ACTIONS:
        raise _invalid(
            "action",
            f"{action!r} is not an action: use one of {', '.join(ACTIONS)}",
        )
    for key, allowed in (("toRevision", ("undo",)), ("wave", ("approve", "promote"))):
        if key in body and action not in allowed:
            raise _invalid(key, f"is for {' or '.join(allowed)} only, not {action}: remove it")
    return str(action)


def _to_revision(body: dict[str, Any], name: str) -> int | None:
    raw = body.get("toRevision")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise _invalid(
            "toRevision",
            f"{raw!r} is not a revision number: give a whole number from 1 "
            f"(see `edgeplane rollout history {name}`)",
        )
    return raw


def _rollout_of(app: Object) -> dict[str, Any]:
    rollout = (app.get("status") or {}).get("rollout")
    if not isinstance(rollout, dict) or not isinstance(rollout.get("revision"), int):
        name = app["metadata"]["name"]
        raise ApiError(
            409,
            "NoRollout",
            f'Application "{name}" has no rollout yet: the hub has not placed it, or it '
            "was just created; wait for status.rollout (`edgeplane rollout status "
            f"{name}`)",
            "status.rollout",
        )
    return rollout


def _wave_index(body: dict[str, Any], rollout: dict[str, Any], name: str) -> int:
    """The wave the action is about: ``wave`` as an index or a name, else the current."""
    raw = body.get("wave", rollout.get("wave", 0))
    names = [str(w.get("name")) for w in rollout.get("waves") or [] if isinstance(w, dict)]
    if isinstance(raw, str) and raw in names:
        return names.index(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(names):
        return raw
    known = ", ".join(f"{i} ({n})" for i, n in enumerate(names)) or "none yet"
    raise _invalid(
        "wave",
        f"Application {name!r} has no wave {raw!r}: give a wave's name or index; its "
        f"waves are {known}",
    )


def _controlled(
    action: str, body: dict[str, Any], rollout: dict[str, Any], name: str
) -> dict[str, Any]:
    """``status.rollout.control`` after ``action``; a control of an older target
    revision is dropped (approvals and pauses are for one revision)."""
    target = rollout["revision"]
    old = rollout.get("control") or {}
    control: dict[str, Any] = {
        "revision": target,
        "paused": False,
        "approved": [],
        "abort": False,
    }
    if old.get("revision") == target:
        control |= {k: v for k, v in old.items() if k in ("paused", "promote", "approved", "abort")}
    if action in ("pause", "resume"):
        control["paused"] = action == "pause"
    elif action == "abort":
        control["abort"] = True
    elif action == "promote":
        control["promote"] = _wave_index(body, rollout, name)
    else:
        control["approved"] = sorted({*control["approved"], _wave_index(body, rollout, name)})
    return control


def _check_not_finished(rollout: dict[str, Any], action: str, name: str) -> None:
    phase = rollout.get("phase")
    if phase in FINISHED:
        raise ApiError(
            409,
            "RolloutFinished",
            f"Application {name!r}: the rollout of revision {rollout['revision']} is "
            f"{phase}, so there is nothing to {action}; change the application to start a "
            f"new one, or `edgeplane rollout undo {name}`",
            "action",
        )


@router.post("/applications/{name}/rollout", response_model=None)
async def rollout_action(request: Request, name: str) -> Response:
    body = await json_body(request)
    action = _action(body)
    if action == "undo":
        return await _undo(request, name, _to_revision(body, name))
    store = _store(request)
    for _ in range(ATTEMPTS):
        app = await store.get("Application", name)
        rollout = _rollout_of(app)
        _check_not_finished(rollout, action, name)
        status = dict(app.get("status") or {})
        status["rollout"] = rollout | {"control": _controlled(action, body, rollout, name)}
        try:
            written = await store.replace_status({**app, "status": status})
        except Conflict:
            continue
        return ObjectResponse(written["status"]["rollout"], status_code=202)
    raise _busy(name)


def _busy(name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f"Application {name!r} kept changing while the action was written: try again",
        "metadata.resourceVersion",
    )


async def _undo(request: Request, name: str, wanted: int | None) -> Response:
    store = _store(request)
    for _ in range(ATTEMPTS):
        app = await store.get("Application", name)
        rollout = _rollout_of(app)
        history = await revisions_of(store, app)
        number = wanted if wanted is not None else _previous(rollout, history, name)
        template = _template(history, app, number)
        answer = rollout | {"toRevision": number}
        if _template_of(app) == template:
            return ObjectResponse(answer, status_code=202)  # it runs that already
        obj = _with_template(app, template)
        headers = warning_headers(await request.app.state.admission.admit(obj))
        try:
            await store.replace(obj)
        except Conflict:
            continue
        return ObjectResponse(answer, status_code=202, headers=headers)
    raise _busy(name)


def _previous(rollout: dict[str, Any], history: list[Object], name: str) -> int:
    """What undo goes back to by default: the stable revision while a rollout to another
    runs; once it is done (stable is the target), the newest revision before it."""
    target, stable = rollout["revision"], rollout.get("stableRevision")
    if isinstance(stable, int) and stable != target:
        return stable
    for revision in history:  # newest first
        if _number(revision) < target:
            return _number(revision)
    raise ApiError(
        409,
        "NothingToUndo",
        f"Application {name!r} has no revision before {target} to go back to: give one "
        f"with toRevision (`edgeplane rollout undo {name} --to-revision N`; see "
        f"`edgeplane rollout history {name}`)",
        "toRevision",
    )


def _template_of(app: Object) -> dict[str, Any]:
    spec = app["spec"]
    return {k: spec[k] for k in TEMPLATE_KEYS if spec.get(k) is not None}


def _with_template(app: Object, template: dict[str, Any]) -> Object:
    """The application with ``template`` as its workload, resources and overrides,
    validated as any update is; written only if its version is still the one read."""
    spec = {k: v for k, v in app["spec"].items() if k not in TEMPLATE_KEYS}
    spec |= {k: template[k] for k in TEMPLATE_KEYS if template.get(k) is not None}
    obj = to_wire(validate_object({**without_status(app), "spec": spec}, "Application"))
    obj["metadata"]["resourceVersion"] = app["metadata"]["resourceVersion"]
    return obj


def _template(history: list[Object], app: Object, number: int) -> dict[str, Any]:
    for revision in history:
        if revision["spec"].get("revision") == number:
            template = revision["spec"].get("template")
            if isinstance(template, dict):
                return template
    name = app["metadata"]["name"]
    raise _invalid(
        "toRevision",
        f"revision {number} is not in the history of Application {name!r} (pruned, or "
        f"never made): see `edgeplane rollout history {name}`",
    )


def _selector(name: str) -> Selector | None:
    """By the application label when the name can be a label value (63 characters);
    longer names are matched by ``spec.application`` alone."""
    if check_label_value(name) is not None:
        return None
    return Selector((make_requirement(APPLICATION_LABEL, Operator.IN, (name,)),))


async def revisions_of(store: Store, app: Object) -> list[Object]:
    """The stored revisions of this application (of this very object: a deleted one's
    namesake does not inherit them), newest first; at most ``MAX_REVISIONS``."""
    name, uid = app["metadata"]["name"], app["metadata"].get("uid")
    found: list[Object] = []
    token: str | None = None
    while len(found) < MAX_REVISIONS:
        page = await store.list("Revision", _selector(name), PAGE, token)
        found += [r for r in page.items if _owned(r, name, uid)]
        if not (token := page.continue_token):
            break
    return sorted(found[:MAX_REVISIONS], key=_number, reverse=True)


def _owned(revision: Object, name: str, uid: Any) -> bool:
    spec = revision.get("spec") or {}
    return spec.get("application") == name and (uid is None or spec.get("applicationUid") == uid)


def _number(revision: Object) -> int:
    number = revision["spec"].get("revision")
    return number if isinstance(number, int) else 0


def _listed(revision: Object, template: bool) -> Object:
    if template:
        return revision
    spec = {k: v for k, v in revision["spec"].items() if k != "template"}
    return {**revision, "spec": spec}


@router.get("/applications/{name}/revisions", response_model=None)
async def list_revisions(
    request: Request,
    name: str,
    template: bool = Query(False, description="Include each revision's template."),
) -> Response:
    store = _store(request)
    app = await store.get("Application", name)
    items = [_listed(r, template) for r in await revisions_of(store, app)]
    return ObjectResponse({"application": name, "items": items})
