"""What the placement controller writes for one application at one site: the Assignment,
rendered and normalised as the API stores it, and whether it differs from the stored one.

The workload is the application's with artifacts resolved to the hub's sha256s and
the overrides covering the site applied (``hub.overrides``: values, manifest patches,
the kubernetes namespace, force, allowedNamespaces and Divided replicas).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Any

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wellknown import APPLICATION_LABEL, SITE_LABEL, assignment_name
from edgeplane.api.wire import Object
from edgeplane.hub.informer import resource_version
from edgeplane.hub.overrides import site_workload

ResolveArtifact = Callable[[str, str], str | None]
"""(name, version) -> the sha256 the hub holds, or None."""


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
) -> Object:
    """The Assignment of ``app`` at ``site``, normalised as the API stores it;
    ``allowed``: the namespaces Policies let the app's manifests write into.
    InvalidObject or OverrideError when the overrides make it invalid."""
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
            "revision": app["metadata"]["generation"],
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
    return to_wire(validate_object(raw, expected_kind="Assignment"))


def unchanged(desired: Object, stored: Object) -> bool:
    """Whether writing ``desired`` over ``stored`` would change anything an agent reads
    (the status and the metadata the store keeps are not compared)."""
    labels = desired["metadata"].get("labels") == stored["metadata"].get("labels")
    return bool(labels and desired["spec"] == stored["spec"])


class RenderCache:
    """Rendered Assignments by (application, site), reused while neither the
    application's spec, the site's labels, the replicas, the namespaces allowed nor the
    artifacts' sha256s changed: a pass then
    renders (and validates) only what a change touched, not the whole fleet again.
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
    ) -> Object:
        app_meta, site_meta = app["metadata"], site["metadata"]
        if not (resource_version(app) and resource_version(site)):
            return render(app, site, workload, replicas, allowed)  # a candidate: not kept
        # What rendering reads: the application's spec (its generation says when that
        # changed, not its status) and the site's labels (not its heartbeats).
        key = (
            (app_meta.get("uid"), app_meta.get("generation")),
            (site_meta.get("uid"), tuple(sorted((site_meta.get("labels") or {}).items()))),
            replicas,
            allowed,
            _shas(workload),
        )
        pair = (app_meta["name"], site_meta["name"])
        found = self._found.get(pair)
        if found is None or found[0] != key:
            found = (key, render(app, site, workload, replicas, allowed))
        self._used[pair] = found
        return found[1]

    def done(self) -> None:
        """After a pass: keep only what it used."""
        self._found, self._used = self._used, {}


def _shas(workload: dict[str, Any]) -> tuple[object, ...]:
    artifacts = (workload.get("process") or {}).get("artifacts") or ()
    return tuple(a.get("sha256") for a in artifacts)
