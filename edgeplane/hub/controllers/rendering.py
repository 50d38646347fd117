"""What the placement controller writes for one application at one site: the Assignment,
rendered and normalised as the API stores it, and whether it differs from the stored one.

The workload is the application's with artifacts resolved to the hub's sha256s and
the overrides covering the site applied (``hub.overrides``: values, manifest patches,
the kubernetes namespace, force, allowedNamespaces and Divided replicas).

A site runs one revision of the application (``rollouts`` says which): the Assignment
is rendered from that revision's template (``at_revision``), names its number, and
carries the rollout's HTTP gate for the agent to probe.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from edgeplane.api.wellknown import APPLICATION_LABEL, SITE_LABEL, assignment_name
from edgeplane.api.wire import Object
from edgeplane.hub.controllers.loading import MAX_PROBLEM
from edgeplane.hub.informer import resource_version
from edgeplane.hub.overrides import OverrideError, site_workload

ResolveArtifact = Callable[[str, str], str | None]
"""(name, version) -> the sha256 the hub holds, or None."""
TEMPLATE_KEYS = ("workload", "resources", "overrides")


def at_revision(app: Object, template: Mapping[str, Any]) -> Object:
    """``app`` as it was at a revision: its spec's template parts (workload, resources,
    overrides) those of ``template``, the rest (placement, rollout...) as now."""
    spec = {k: v for k, v in app["spec"].items() if k not in TEMPLATE_KEYS}
    return {**app, "spec": {**spec, **template}}


def gate_of(app: Object) -> dict[str, Any] | None:
    """The ``spec.gate`` an Assignment carries: the rollout's HTTP gate, if any."""
    http = (((app["spec"].get("rollout") or {}).get("gates")) or {}).get("http")
    return {"http": http} if http else None


def resolved_workload(app: Object, resolve: ResolveArtifact) -> tuple[dict[str, Any], str | None]:
    """The app's workload with each artifact's sha256 from the hub; or why it cannot be."""
    workload = copy.deepcopy(app["spec"]["workload"])
    for artifact in (workload.get("process") or {}).get("artifacts") or []:
        sha = resolve(artifact["name"], artifact["version"])
        label = f"artifact {artifact['name']}:{artifact['version']}"
        if sha is None:
            return workload, f"{label} is not on the hub: `edgeplane artifact push` it"
        if artifact.get("sha256") not in (None, sha):
            return (
                workload,
                f"{label} pins sha256 {artifact['sha256'][:12]}… but the hub has {sha[:12]}…",
            )
        artifact["sha256"] = sha
    return workload, None


def render(
    app: Object,
    site: Object,
    workload: dict[str, Any],
    replicas: int = 1,
    allowed: frozenset[str] = frozenset(),
    revision: int | None = None,
) -> Object:
    """The Assignment of ``app`` at ``site``, normalised as the API stores it;
    ``allowed``: the namespaces Policies let the app's manifests write into;
    ``revision``: the number it runs (None: the application's generation, for a dry
    run). InvalidObject or OverrideError when the overrides make it invalid."""
    app_name, site_name = app["metadata"]["name"], site["metadata"]["name"]
    raw: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Assignment",
        "metadata": {
            "name": assignment_name(app_name, site_name),
            "labels": {APPLICATION_LABEL: app_name, SITE_LABEL: site_name},
        },
        "spec": {
            "application": app_name,
            "revision": app["metadata"]["generation"] if revision is None else revision,
            "site": site_name,
            "replicas": replicas,
            "workload": site_workload(workload, app, site, replicas, allowed),
            "resources": app["spec"].get("resources"),
        },
    }
    if raw["spec"]["resources"] is None:
        del raw["spec"]["resources"]
    if ((app["spec"].get("failover") or {}).get("fencing")) == "Strict":
        raw["spec"]["fencing"] = "Strict"  # the agent fences it (api.leases)
    if (gate := gate_of(app)) is not None:
        raw["spec"]["gate"] = gate
    if names := metric_names(app):
        raw["spec"]["metrics"] = names  # what the site's agent reports (agent.metering)
    return to_wire(validate_object(raw, expected_kind="Assignment"))


def unchanged(desired: Object, stored: Object) -> bool:
    """Whether writing ``desired`` over ``stored`` would change anything an agent reads
    (the status and the metadata the store keeps are not compared)."""
    labels = desired["metadata"].get("labels") == stored["metadata"].get("labels")
    return bool(labels and desired["spec"] == stored["spec"])


class RenderCache:
    """Rendered Assignments by (application, site), reused while neither the revision
    the site runs, the parts of the spec besides the template that rendering reads,
    the site's labels, the replicas, the namespaces allowed nor the artifacts' sha256s
    changed: a pass then renders (and validates) only what a change touched, not the
    whole fleet again (a new revision renders only the sites a rollout moves).
    The objects it gives are shared from pass to pass: never mutate one."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], tuple[Hashable, Object]] = {}
        self._used: dict[tuple[str, str], tuple[Hashable, Object]] = {}

    def render(
        self,
        app: Object,
        site: Object,
        workload: dict[str, Any],
        replicas: int = 1,
        allowed: frozenset[str] = frozenset(),
        revision: int | None = None,
    ) -> Object:
        """``app`` as at ``revision`` (``at_revision``); None: as it is now."""
        app_meta, site_meta = app["metadata"], site["metadata"]
        if not (resource_version(app) and resource_version(site)) or revision is None:
            return render(app, site, workload, replicas, allowed, revision)  # not kept
        # What rendering reads: the revision's template (its number says which, for
        # the application's uid), the rest of the spec it reads, and the site's labels
        # (not its heartbeats).
        key = (
            (app_meta.get("uid"), revision, _rest(app)),
            (site_meta.get("uid"), tuple(sorted((site_meta.get("labels") or {}).items()))),
            replicas,
            allowed,
            _shas(workload),
        )
        pair = (app_meta["name"], site_meta["name"])
        found = self._found.get(pair)
        if found is None or found[0] != key:
            found = (key, render(app, site, workload, replicas, allowed, revision))
        self._used[pair] = found
        return found[1]

    def done(self) -> None:
        """After a pass: keep only what it used."""
        self._found, self._used = self._used, {}


def _rest(app: Object) -> str:
    """The parts of the spec besides the template that rendering reads, as one key."""
    spec = app["spec"]
    division = (spec.get("placement") or {}).get("division")
    fencing = (spec.get("failover") or {}).get("fencing")
    return repr((division, fencing, gate_of(app), metric_names(app)))


def metric_names(app: Object) -> list[str]:
    """The per-instance metrics the application's autoscaler reads: ``cpu`` (of the
    Resource metric) and the Pods metrics' names; External ones are not the sites'."""
    names = []
    for metric in (app["spec"].get("autoscaling") or {}).get("metrics") or ():
        if metric.get("type") == "Resource":
            names.append(metric["resource"]["name"])
        elif metric.get("type") == "Pods":
            names.append(metric["pods"]["metric"]["name"])
    return names


def _shas(workload: dict[str, Any]) -> tuple[object, ...]:
    artifacts = (workload.get("process") or {}).get("artifacts") or ()
    return tuple(a.get("sha256") for a in artifacts)


Problem = tuple[str, str]
"""(reason, message): why an application is not placed as decided."""


def render_revisions(
    renders: RenderCache,
    app: Object,
    parts: Iterable[tuple[str, int]],
    sites: Mapping[str, Object],
    runs: Mapping[str, int],
    templates: Mapping[int, Mapping[str, Any]],
    held: Mapping[str, Object],
    resolve: ResolveArtifact,
    allowed: frozenset[str],
) -> tuple[dict[str, Object], Problem | None]:
    """Each placed site's Assignment (``parts``: site, replicas), at the revision it
    ``runs``, from that revision's template. A site whose revision has no template
    (older than revisions: an upgraded hub) keeps its Assignment as it is."""
    rendered: dict[str, Object] = {}
    workloads: dict[int, tuple[Object, dict[str, Any]]] = {}
    for site, replicas in parts:
        number = runs[site]
        template = templates.get(number)
        if template is None and site in held:
            rendered[held[site]["metadata"]["name"]] = held[site]
            continue
        if template is None:
            return {}, ("RenderFailed", f"revision {number} of it is not known: its template")
        if number not in workloads:
            at = at_revision(app, template)
            workload, missing = resolved_workload(at, resolve)
            if missing:
                return {}, ("ArtifactMissing", missing)
            workloads[number] = (at, workload)
        at, workload = workloads[number]
        try:
            obj = renders.render(at, sites[site], workload, replicas, allowed, number)
        except (InvalidObject, OverrideError) as e:
            why = f"its Assignment at site {site} is invalid (check spec.overrides): {e}"
            return {}, ("RenderFailed", why[:MAX_PROBLEM])
        rendered[obj["metadata"]["name"]] = obj
    return rendered, None
