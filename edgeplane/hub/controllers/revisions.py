"""An Application's revisions as the placement controller keeps them: one ``Revision``
object per distinct template (``spec.workload``, ``spec.resources``,
``spec.overrides``), content-addressed, so a template seen before takes its old number
back and nothing restarts anywhere.

Per pass: ``RevisionBook.plan`` says each application's target revision (its
template's), which Revision objects are new, and the templates an Assignment may run
(``rollouts`` picks a revision per site, ``rendering`` renders it); ``write`` creates
the new ones (before the Assignments that name them) and deletes those of deleted
applications (or of an older object of the same name); ``prunable`` says which to
delete past ``spec.rollout.revisionHistoryLimit`` once the Assignments are written
(never one an Assignment still runs, nor the rollout's target or stable).

Neighbours: ``placement`` calls it; ``hub.rollouts`` (the routes) reads Revisions for
history and undo; sites may not read them (``hub.authz``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wellknown import APPLICATION_LABEL, revision_name
from edgeplane.api.wire import Object
from edgeplane.hub.controllers.writing import Writer, in_flight
from edgeplane.store.errors import AlreadyExists, NotFound
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.placement")

TEMPLATE_KEYS = ("workload", "resources", "overrides")
DEFAULT_HISTORY = 10
Template = Mapping[str, Any]
"""``{workload, resources?, overrides?}``: what a revision runs."""


def template_of(app: Object) -> dict[str, Any]:
    """The application's template as a Revision stores it (absent parts left out)."""
    spec = app["spec"]
    return {k: spec[k] for k in TEMPLATE_KEYS if spec.get(k) is not None}


def template_hash(template: Template) -> str:
    """sha256 of the canonical JSON of the template, an absent part as null."""
    whole = {k: template.get(k) for k in TEMPLATE_KEYS}
    text = json.dumps(whole, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def history_limit(app: Object) -> int:
    rollout = app["spec"].get("rollout") or {}
    return int(rollout.get("revisionHistoryLimit") or DEFAULT_HISTORY)


def rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def revision_object(
    app: Object, number: int, template: Template, digest: str, now: float
) -> Object:
    """The Revision ``number`` of ``app``, normalised as the API stores it."""
    meta = app["metadata"]
    raw = {
        "apiVersion": API_VERSION,
        "kind": "Revision",
        "metadata": {
            "name": revision_name(meta["name"], number),
            "labels": {APPLICATION_LABEL: meta["name"]},
        },
        "spec": {
            "application": meta["name"],
            "applicationUid": str(meta.get("uid") or ""),
            "revision": number,
            "hash": digest,
            "template": dict(template),
            "createdAt": rfc3339(now),
        },
    }
    return to_wire(validate_object(raw, expected_kind="Revision"))


@dataclass
class RevisionPlan:
    """One pass's revisions: each application's target, the templates by number (the
    stored ones of the application's own uid, and the new), what to create and what
    to delete (revisions of no application)."""

    targets: dict[str, int] = field(default_factory=dict)
    templates: dict[str, dict[int, Template]] = field(default_factory=dict)
    create: list[Object] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    stored: dict[str, dict[int, str]] = field(default_factory=dict)
    """Each application's stored revisions (of its uid): number -> object name."""


def _owned(
    revisions: Iterable[Object], apps: Mapping[str, Object], keep: Iterable[str]
) -> tuple[dict[str, list[Object]], list[str]]:
    """Stored revisions by application (of its current uid), and the names of the rest
    (their application deleted, or made again); ``keep``: applications left out of
    the pass (invalid) whose revisions stay."""
    kept = set(keep)
    mine: dict[str, list[Object]] = {}
    orphans: list[str] = []
    for rev in revisions:
        spec = rev.get("spec") or {}
        app = apps.get(str(spec.get("application")))
        if app is not None and spec.get("applicationUid") == str(app["metadata"].get("uid") or ""):
            mine.setdefault(app["metadata"]["name"], []).append(rev)
        elif app is None and spec.get("application") in kept:
            continue
        else:
            orphans.append(rev["metadata"]["name"])
    return mine, orphans


class RevisionBook:
    """The hashes of each application's template, kept while its spec (generation) is
    unchanged: a pass hashes only what changed."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[object, str]] = {}

    def digest(self, app: Object) -> str:
        meta = app["metadata"]
        key = (meta.get("uid"), meta.get("generation"), meta.get("resourceVersion") is None)
        found = self._hashes.get(meta["name"])
        if found is None or found[0] != key or key[2]:
            found = (key, template_hash(template_of(app)))
            self._hashes[meta["name"]] = found
        return found[1]

    def plan(
        self,
        apps: Iterable[Object],
        revisions: Iterable[Object],
        keep: Iterable[str] = (),
        now: float | None = None,
    ) -> RevisionPlan:
        """Each application's target revision, and the Revisions to create and delete."""
        at = time.time() if now is None else now
        by_name = {a["metadata"]["name"]: a for a in apps}
        mine, orphans = _owned(revisions, by_name, keep)
        found = RevisionPlan(delete=orphans)
        for name, app in by_name.items():
            self._plan_one(found, app, mine.get(name, []), at)
        self._hashes = {k: v for k, v in self._hashes.items() if k in by_name}
        return found

    def _plan_one(self, found: RevisionPlan, app: Object, stored: list[Object], now: float) -> None:
        name, digest = app["metadata"]["name"], self.digest(app)
        templates = {int(r["spec"]["revision"]): r["spec"]["template"] for r in stored}
        found.stored[name] = {int(r["spec"]["revision"]): r["metadata"]["name"] for r in stored}
        same = [int(r["spec"]["revision"]) for r in stored if r["spec"].get("hash") == digest]
        if same:
            number = max(same)
        else:
            number = max([*templates, _rollout_revision(app)]) + 1
            template = template_of(app)
            found.create.append(revision_object(app, number, template, digest, now))
            found.stored[name][number] = revision_name(name, number)
            templates[number] = template
        found.targets[name] = number
        found.templates[name] = templates


def _rollout_revision(app: Object) -> int:
    rollout = (app.get("status") or {}).get("rollout") or {}
    value = rollout.get("revision")
    return value if type(value) is int else 0


def prunable(stored: Mapping[int, str], limit: int, in_use: Iterable[int]) -> list[str]:
    """The names of the oldest revisions past ``limit`` that nothing uses."""
    used = set(in_use)
    over = len(stored) - limit
    found = []
    for number in sorted(stored):
        if over <= 0:
            break
        if number not in used:
            found.append(stored[number])
            over -= 1
    return found


async def write_revisions(store: Store, writer: Writer, plan: RevisionPlan) -> set[str]:
    """Delete the revisions of no application, then create the new ones (before any
    Assignment names them); the applications whose new revision was not created (lost
    a race: the writer says to place again), which keep what runs this pass."""
    await in_flight([_delete(store, writer, name) for name in plan.delete])
    results = await in_flight([_create(store, writer, obj) for obj in plan.create])
    return {
        obj["spec"]["application"] for obj, ok in zip(plan.create, results, strict=True) if not ok
    }


async def prune_revisions(store: Store, writer: Writer, names: Iterable[str]) -> None:
    await in_flight([_delete(store, writer, name) for name in names])


def _create(store: Store, writer: Writer, obj: Object) -> Callable[[], Awaitable[bool]]:
    async def create() -> bool:
        try:
            writer.wrote(await store.create(obj))
            log.info("revision %s created", obj["metadata"]["name"])
            return True
        except AlreadyExists:
            writer.lost = True
            return False

    return create


def _delete(store: Store, writer: Writer, name: str) -> Callable[[], Awaitable[None]]:
    async def delete() -> None:
        try:
            writer.wrote(await store.delete("Revision", name))
            log.info("revision %s deleted", name)
        except NotFound:
            pass

    return delete


def unused(
    apps: Iterable[Object],
    plan: RevisionPlan,
    running: Mapping[str, Iterable[int]],
    kept: Mapping[str, Iterable[int]],
) -> list[str]:
    """The revisions to prune: per application, the oldest past its history limit that
    no Assignment runs (``running``) and the rollout keeps (``kept``: target, stable)."""
    found = []
    for app in apps:
        name = app["metadata"]["name"]
        stored = plan.stored.get(name, {})
        if len(stored) > history_limit(app):
            used = {*running.get(name, ()), *kept.get(name, ()), plan.targets.get(name, 0)}
            found += prunable(stored, history_limit(app), used)
    return found
