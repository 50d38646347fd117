"""The workload an Assignment carries to one site: the application's workload with the
overrides that cover the site applied, in order (each one's ``values`` as a JSON merge
patch, then its ``patches`` to single manifests), and, for a kubernetes workload, what
the agent reads besides the manifests: the resolved ``namespace``, ``force``,
``allowedNamespaces``, and the ``spec.replicas`` a Divided assignment scales to.

Pure. The placement controller renders Assignments with it (``controllers.rendering``)
and admission renders each override with it, so a patch that cannot apply is refused
when the Application is written, not found at some site later. Errors are
``OverrideError``, naming the Application's field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgeplane.api.appchecks import resolved_namespace
from edgeplane.api.kubernetes import SCALED_KINDS
from edgeplane.api.selectors import selector_from_dict
from edgeplane.api.wire import Object
from edgeplane.hub.manifests import PatchError, json_patch, strategic_merge
from edgeplane.hub.patch import merge_patch

Fragment = Mapping[str, Any]
"""A piece of a spec as JSON (a workload, an override, a manifest, a patch): arbitrary
JSON, not a whole object."""
SCALED_GROUPS = ("apps", "extensions")
KUBERNETES = "spec.workload.kubernetes"


class OverrideError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def covers(override: Fragment, site: Object) -> bool:
    """Whether ``override`` applies at ``site`` (by name, or by its labels)."""
    if override.get("site") == site["metadata"]["name"]:
        return True
    selector = override.get("siteSelector")
    return (
        isinstance(selector, Mapping)
        and bool(selector)
        and selector_from_dict(selector).matches(site["metadata"].get("labels") or {})
    )


def apply_override(workload: Fragment, override: Fragment, index: int) -> dict[str, Any]:
    """``workload`` with the override's values and then its patches applied."""
    result: dict[str, Any] = merge_patch(workload, override.get("values") or {})
    patches = override.get("patches") or []
    if not patches:
        return result
    kubernetes = result.get("kubernetes")
    where = f"spec.overrides[{index}]"
    if not isinstance(kubernetes, dict):
        raise OverrideError(f"{where}.patches", "patch manifests, and the workload is a process")
    kubernetes["manifests"] = patched(kubernetes.get("manifests") or [], patches, where)
    return result


def _matches(target: Fragment, manifest: Fragment) -> bool:
    metadata = manifest.get("metadata") or {}
    return (
        manifest.get("kind") == target.get("kind")
        and metadata.get("name") == target.get("name")
        and target.get("apiVersion") in (None, manifest.get("apiVersion"))
        and target.get("namespace") in (None, metadata.get("namespace"))
    )


def patched(manifests: Sequence[Fragment], patches: Sequence[Fragment], where: str) -> list[Any]:
    """``manifests`` with each patch applied to the one manifest its target picks."""
    result: list[Any] = list(manifests)
    for j, patch in enumerate(patches):
        field = f"{where}.patches[{j}]"
        hits = [i for i, m in enumerate(result) if _matches(patch.get("target") or {}, m)]
        if len(hits) != 1:
            raise OverrideError(f"{field}.target", _target_problem(len(hits)))
        try:
            if patch.get("patch") is not None:
                new = strategic_merge(result[hits[0]], patch["patch"])
            else:
                new = json_patch(result[hits[0]], patch.get("jsonPatch") or [])
        except PatchError as e:
            raise OverrideError(f"{field}.{e.field}", e.message) from None
        if not isinstance(new, dict):
            raise OverrideError(f"{field}.jsonPatch", "leaves no object: patch inside it")
        result[hits[0]] = new
    return result


def _target_problem(found: int) -> str:
    if found == 0:
        return "matches no manifest (after the override's values): correct the kind or name"
    return f"matches {found} manifests: add apiVersion or namespace to tell them apart"


def scaled(manifests: Iterable[Fragment], replicas: int) -> list[Any]:
    """Every Deployment, StatefulSet and ReplicaSet set to ``replicas``."""
    result: list[Any] = []
    for manifest in manifests:
        group = str(manifest.get("apiVersion") or "").rpartition("/")[0]
        if manifest.get("kind") in SCALED_KINDS and group in SCALED_GROUPS:
            spec = {**(manifest.get("spec") or {}), "replicas": replicas}
            manifest = {**manifest, "spec": spec}
        result.append(manifest)
    return result


def foreign_namespaces(manifests: Iterable[Fragment], namespace: str) -> list[tuple[int, str]]:
    """(index, namespace) of each manifest that names a namespace besides ``namespace``."""
    found = []
    for i, manifest in enumerate(manifests):
        own = (manifest.get("metadata") or {}).get("namespace")
        if isinstance(own, str) and own != namespace:
            found.append((i, own))
    return found


def refusal(own: str, namespace: str) -> str:
    return (
        f"is {own!r}, a namespace no Policy lets this application write into: write a "
        f"Policy of scope Admission that selects the application, with "
        f"spec.kubernetes.allowedNamespaces: [{own}], or remove metadata.namespace (the "
        f"manifest then goes into {namespace!r})"
    )


SYSTEM_PREFIX = "kube-"


def system_refusal(namespace: str) -> str:
    return (
        f"is {namespace!r}: namespaces starting {SYSTEM_PREFIX!r} are Kubernetes' own: choose "
        f"another, or write a Policy of scope Admission that selects the application, with "
        f"spec.kubernetes.allowedNamespaces: [{namespace}]"
    )


def kubernetes_rendered(
    workload: Fragment, app_name: str, replicas: int | None, allowed: frozenset[str]
) -> dict[str, Any]:
    """The kubernetes ``workload`` as the agent reads it: namespace resolved, force and
    allowedNamespaces set, and scaled to ``replicas`` (None: as the manifests say)."""
    kubernetes = dict(workload["kubernetes"])
    namespace = resolved_namespace(app_name, kubernetes.get("namespace"))
    if namespace is None:
        raise OverrideError(f"{KUBERNETES}.namespace", "is needed: set a namespace")
    manifests = list(kubernetes.get("manifests") or [])
    if replicas is not None:
        manifests = scaled(manifests, replicas)
    foreign = foreign_namespaces(manifests, namespace)
    for i, own in foreign:
        if own not in allowed:
            field = f"{KUBERNETES}.manifests[{i}].metadata.namespace"
            raise OverrideError(field, refusal(own, namespace))
    granted = {own for _, own in foreign}
    if namespace.startswith(SYSTEM_PREFIX):
        # kube-system runs the control plane, privileged: only a Policy opens it (the
        # agent refuses such a namespace unless the Assignment lists it as allowed).
        if namespace not in allowed:
            raise OverrideError(f"{KUBERNETES}.namespace", system_refusal(namespace))
        granted.add(namespace)
    kubernetes.update(
        manifests=manifests,
        namespace=namespace,
        force=bool(kubernetes.get("force")),
        allowedNamespaces=sorted(granted),
    )
    return {**workload, "kubernetes": kubernetes}


def site_workload(
    workload: Fragment, app: Object, site: Object, replicas: int, allowed: frozenset[str]
) -> dict[str, Any]:
    """What an Assignment of ``app`` at ``site`` runs, with ``replicas`` there."""
    result: dict[str, Any] = dict(workload)
    for i, override in enumerate(app["spec"].get("overrides") or []):
        if covers(override, site):
            result = apply_override(result, override, i)
    if result.get("kubernetes") is None:
        return result
    divided = (app["spec"].get("placement") or {}).get("division") == "Divided"
    name = app["metadata"]["name"]
    return kubernetes_rendered(result, name, replicas if divided else None, allowed)
