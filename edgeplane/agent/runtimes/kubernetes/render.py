"""An assignment's manifests as the exact objects the agent applies (pure).

``render`` takes ``spec.workload.kubernetes`` of an Assignment, where the hub has already
applied the site's override patches and replica count, and returns deep copies to
server-side apply: each object in its namespace, labelled with who it belongs to, and,
at a node-pool site, pinned to the pool's nodes and kept on them while they are cut off.

No I/O: which kinds are namespaced comes from the caller's discovery (``scopes``).
Applying and pruning are ``apply``'s job; reading health back is ``readiness``'s.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes.kubernetes.fields import MAX_DEPTH, too_deep
from edgeplane.api.labels import LABEL_VALUE_MAX, check_dns1123_label, check_label_value

APPLICATION_LABEL = "edgeplane.io/application"
ASSIGNMENT_LABEL = "edgeplane.io/assignment"
REVISION_LABEL = "edgeplane.io/revision"
SITE_LABEL = "edgeplane.io/site"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "edgeplane"
TEMPLATE_LABELS = (APPLICATION_LABEL, ASSIGNMENT_LABEL)
"""The labels pod templates get: not the revision, which would change every template on
every revision and so restart every pod, even when nothing in the template changed."""

MAX_MANIFESTS = 256
RESERVED_PREFIX = "edgeplane-inventory-"
"""Names of the assignments' inventory ConfigMaps (``inventory.py``): a manifest may not
take one, or it would overwrite (or be) the record of what an assignment may prune."""
"""As the API bounds ``spec.workload.kubernetes.manifests``."""
SYSTEM_PREFIX = "kube-"
_MAX_REVISION = 2**63 - 1
_HASH = 10

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
NAMESPACE = ("", "Namespace")

POD_SPEC_PATHS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""(group, kind) -> where its pod spec is."""

LIFECYCLE_TOLERATIONS: tuple[Mapping[str, str], ...] = (
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
)
"""Without tolerationSeconds: a pool's pods stay bound while its nodes are cut off from
the central cluster (OpenYurt's autonomy), instead of being evicted after 300 s."""

# Known without discovery, so a caller that could not discover a built-in kind still
# never gives a Namespace or a ClusterRole a namespace.
_CLUSTER_SCOPED = frozenset(
    {
        NAMESPACE,
        CRD,
        ("", "Node"),
        ("", "PersistentVolume"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("apiregistration.k8s.io", "APIService"),
    }
)


class RenderError(ValueError):
    """A manifest that cannot be applied as given; the message names it and the fix."""


@dataclass(frozen=True)
class Identity:
    site: str
    application: str
    assignment: str
    revision: int


@dataclass(frozen=True)
class NodePool:
    selector: Mapping[str, str]
    """The node labels selecting the pool: forced into every pod spec's nodeSelector."""
    tolerations: tuple[Mapping[str, Any], ...]
    """For the taints of the pool's nodes (``nodes.pool_tolerations``)."""


@dataclass(frozen=True)
class _Context:
    namespace: str
    allowed: frozenset[str]
    scopes: Mapping[tuple[str, str], bool]
    labels: Mapping[str, str]
    pool: NodePool | None


def render(
    workload: Mapping[str, Any],
    identity: Identity,
    *,
    scopes: Mapping[tuple[str, str], bool],
    pool: NodePool | None = None,
) -> list[dict[str, Any]]:
    """The objects to apply for one assignment, its Namespace first; RenderError when a
    manifest cannot be applied here. The input is left unchanged."""
    if not isinstance(workload, Mapping):
        raise RenderError("spec.workload.kubernetes must be an object with manifests")
    manifests = _manifests(workload)
    objects = [_checked_copy(i, m) for i, m in enumerate(manifests)]
    allowed = _allowed(workload)
    ctx = _Context(
        namespace=_namespace(workload, allowed),
        allowed=allowed,
        scopes={**_crd_scopes(objects), **scopes},
        labels=identity_labels(identity),
        pool=pool,
    )
    rendered = [_render_one(i, obj, ctx) for i, obj in enumerate(objects)]
    if not any(_is_own_namespace(obj, ctx.namespace) for obj in rendered):
        rendered.insert(0, _namespace_object(ctx))
    return rendered


def identity_labels(identity: Identity) -> dict[str, str]:
    """The labels on every object of the assignment (``label_value`` of each name)."""
    revision = identity.revision
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise RenderError(f"identity.revision must be an integer, not {type(revision).__name__}")
    if not 0 <= revision <= _MAX_REVISION:
        # Not formatted: str() of a 5000-digit int raises.
        raise RenderError("identity.revision is out of range: it must be from 0 to 2^63-1")
    return {
        APPLICATION_LABEL: label_value(identity.application, "application"),
        ASSIGNMENT_LABEL: label_value(identity.assignment, "assignment"),
        REVISION_LABEL: str(revision),
        SITE_LABEL: label_value(identity.site, "site"),
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def label_value(name: str, what: str = "name") -> str:
    """``name`` as a label value: itself when it is one, else (application and assignment
    names run to 253 characters, label values to 63) a readable head and a hash of the
    whole name. Use it to select an assignment's objects by label."""
    if not isinstance(name, str):
        raise RenderError(f"identity.{what} must be a string, not {type(name).__name__}")
    if check_label_value(name) is None:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH]
    short = f"{name[: LABEL_VALUE_MAX - _HASH - 1].rstrip('-_.')}-{digest}"
    if problem := check_label_value(short):
        raise RenderError(f"identity.{what} {name[:80]!r} cannot be a label value: {problem}")
    return short


def group_of(api_version: str) -> str:
    """``apps`` of ``apps/v1``, ``""`` of ``v1`` (the core group)."""
    group, _, _ = api_version.rpartition("/")
    return group


def where(i: int, obj: Mapping[str, Any]) -> str:
    """``manifests[3] (Deployment web)``: how a message names a manifest."""
    name = obj.get("metadata", {}).get("name")
    return f"manifests[{i}] ({obj.get('kind')} {name})"


def _manifests(workload: Mapping[str, Any]) -> Sequence[Any]:
    manifests = workload.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise RenderError("spec.workload.kubernetes.manifests must be a list of 1 or more objects")
    if len(manifests) > MAX_MANIFESTS:
        raise RenderError(
            f"spec.workload.kubernetes.manifests holds {len(manifests)} objects, at most "
            f"{MAX_MANIFESTS}: split the application in two"
        )
    return manifests


def _namespace(workload: Mapping[str, Any], allowed: frozenset[str]) -> str:
    namespace = workload.get("namespace")
    if not isinstance(namespace, str):
        raise RenderError(
            "spec.workload.kubernetes.namespace is missing: the hub sets it on every "
            "kubernetes assignment (upgrade the hub)"
        )
    if problem := check_dns1123_label(namespace):
        raise RenderError(f"spec.workload.kubernetes.namespace {namespace[:80]!r} {problem}")
    if namespace.startswith(SYSTEM_PREFIX) and namespace not in allowed:
        # kube-system runs the control plane's pods, privileged: an application that
        # chose it would run there, and could take its ConfigMaps' names.
        raise RenderError(
            f"spec.workload.kubernetes.namespace {namespace!r}: namespaces starting "
            f"{SYSTEM_PREFIX!r} are Kubernetes' own: choose another, or have an admin "
            "list it in a Policy's spec.kubernetes.allowedNamespaces"
        )
    return namespace


def _allowed(workload: Mapping[str, Any]) -> frozenset[str]:
    allowed = workload.get("allowedNamespaces") or []
    if not isinstance(allowed, list) or not all(isinstance(ns, str) for ns in allowed):
        raise RenderError("spec.workload.kubernetes.allowedNamespaces must be a list of names")
    return frozenset(allowed)


def _checked_copy(i: int, manifest: Any) -> dict[str, Any]:
    """A deep copy of a manifest with the fields render relies on, or RenderError."""
    if not isinstance(manifest, Mapping):
        raise RenderError(f"manifests[{i}] must be an object with apiVersion, kind and metadata")
    if too_deep(manifest):
        raise RenderError(f"manifests[{i}] is nested more than {MAX_DEPTH} levels deep: flatten it")
    obj = copy.deepcopy(dict(manifest))
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise RenderError(f"manifests[{i}] needs metadata.name: name the object")
    obj["metadata"] = dict(metadata)
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise RenderError(f"{where(i, obj)} needs {key}, e.g. apiVersion apps/v1 and kind Pod")
    return obj


def _crd_scopes(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], bool]:
    """(apiVersion, kind) -> namespaced, for the kinds the manifests' own CRDs define
    (not discoverable before those CRDs are applied)."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if (group_of(obj["apiVersion"]), obj["kind"]) != CRD:
            continue
        spec = obj.get("spec")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("names"), Mapping):
            continue  # the apiserver refuses it, with its own message
        group, kind = spec.get("group"), spec["names"].get("kind")
        versions = spec.get("versions")
        if isinstance(group, str) and isinstance(kind, str) and isinstance(versions, list):
            for version in versions:
                if isinstance(version, Mapping) and isinstance(version.get("name"), str):
                    scopes[(f"{group}/{version['name']}", kind)] = spec.get("scope") != "Cluster"
    return scopes


def _namespaced(obj: Mapping[str, Any], ctx: _Context) -> bool:
    key = (obj["apiVersion"], obj["kind"])
    if key in ctx.scopes:
        return ctx.scopes[key]
    return (group_of(obj["apiVersion"]), obj["kind"]) not in _CLUSTER_SCOPED


def _render_one(i: int, obj: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    if _namespaced(obj, ctx):
        obj["metadata"]["namespace"] = _namespace_for(i, obj, ctx)
    else:
        _check_cluster_scoped(i, obj, ctx)
        obj["metadata"].pop("namespace", None)
    _check_reserved(i, obj, ctx)
    _label(i, obj, ctx)
    if ctx.pool is not None:
        _pin(i, obj, ctx.pool)
    return obj


def _namespace_for(i: int, obj: Mapping[str, Any], ctx: _Context) -> str:
    own = obj["metadata"].get("namespace")
    if own in (None, "", ctx.namespace):
        return ctx.namespace
    if not isinstance(own, str):
        raise RenderError(f"{where(i, obj)}: metadata.namespace must be a string, or absent")
    if own in ctx.allowed:
        return own
    raise RenderError(
        f"{where(i, obj)}: metadata.namespace {own[:80]!r} is not allowed for this "
        f"application: remove metadata.namespace to use {ctx.namespace!r}, or have an admin "
        f"list it in a Policy's spec.kubernetes.allowedNamespaces"
    )


def _check_reserved(i: int, obj: Mapping[str, Any], ctx: _Context) -> None:
    """Namespace objects only for the namespaces the assignment may write into (else a
    manifest could label, and later prune, kube-system); no inventory's name."""
    name = obj["metadata"]["name"]
    key = (group_of(obj["apiVersion"]), obj["kind"])
    if key == NAMESPACE and name != ctx.namespace and name not in ctx.allowed:
        raise RenderError(
            f"{where(i, obj)}: the namespace {name[:80]!r} is not this application's: "
            f"remove the manifest, name it {ctx.namespace!r}, or have an admin list it in "
            "a Policy's spec.kubernetes.allowedNamespaces"
        )
    if key == ("", "ConfigMap") and name.startswith(RESERVED_PREFIX):
        raise RenderError(
            f"{where(i, obj)}: names starting {RESERVED_PREFIX!r} are the agent's "
            "inventories: rename the ConfigMap"
        )


def _check_cluster_scoped(i: int, obj: Mapping[str, Any], ctx: _Context) -> None:
    if ctx.pool is None or _is_own_namespace(obj, ctx.namespace):
        return
    if (group_of(obj["apiVersion"]), obj["kind"]) != CRD:
        raise RenderError(
            f"{where(i, obj)} is cluster-scoped, and two node pools of one cluster would "
            "fight over it: apply it from an application placed on a cluster site, or "
            "remove it"
        )


def _label(i: int, obj: dict[str, Any], ctx: _Context) -> None:
    _merge_labels(i, obj, obj["metadata"], ctx.labels)
    template = {k: ctx.labels[k] for k in TEMPLATE_LABELS}
    path = POD_SPEC_PATHS.get((group_of(obj["apiVersion"]), obj["kind"]), ())
    for depth in range(2, len(path), 2):  # spec.template, spec.jobTemplate(.spec.template)
        metadata = _mapping_at(i, obj, (*path[:depth], "metadata"), create=True)
        _merge_labels(i, obj, metadata, template)


def _merge_labels(
    i: int, obj: Mapping[str, Any], metadata: dict[str, Any], labels: Mapping[str, str]
) -> None:
    own = metadata.get("labels") or {}
    if not isinstance(own, Mapping):
        raise RenderError(f"{where(i, obj)}: metadata.labels must be a map of strings")
    metadata["labels"] = {**own, **labels}


def _pin(i: int, obj: dict[str, Any], pool: NodePool) -> None:
    path = POD_SPEC_PATHS.get((group_of(obj["apiVersion"]), obj["kind"]))
    if path is None:
        return
    spec = _mapping_at(i, obj, path, create=False)
    selector = spec.get("nodeSelector") or {}
    if not isinstance(selector, Mapping):
        raise RenderError(f"{where(i, obj)}: {'.'.join(path)}.nodeSelector must be a map")
    spec["nodeSelector"] = {**selector, **pool.selector}
    spec["tolerations"] = _tolerations(i, obj, spec.get("tolerations"), pool)


def _tolerations(i: int, obj: Mapping[str, Any], own: Any, pool: NodePool) -> list[Any]:
    own = own or []
    if not isinstance(own, list) or not all(isinstance(t, Mapping) for t in own):
        raise RenderError(f"{where(i, obj)}: tolerations must be a list of objects")
    lifecycle = tuple(t["key"] for t in LIFECYCLE_TOLERATIONS)
    # A toleration of ours for the same taint with tolerationSeconds would still evict:
    # the shortest tolerationSeconds of all that match wins.
    kept: list[Any] = [t for t in own if t.get("key") not in lifecycle]
    for toleration in (*pool.tolerations, *LIFECYCLE_TOLERATIONS):
        if toleration not in kept:
            kept.append(copy.deepcopy(dict(toleration)))
    return kept


def _mapping_at(i: int, obj: dict[str, Any], path: Sequence[str], *, create: bool) -> Any:
    """The object at ``path``, copied in place; its last step made when missing and
    ``create``; RenderError when a step is missing or not an object."""
    node: Any = obj
    for depth, key in enumerate(path):
        child = node.get(key)
        if child is None and create and depth == len(path) - 1:
            child = {}
        if not isinstance(child, Mapping):
            field = ".".join(path[: depth + 1])
            raise RenderError(f"{where(i, obj)}: {field} must be an object: write the pod spec")
        node[key] = child = dict(child)
        node = child
    return node


def _is_own_namespace(obj: Mapping[str, Any], namespace: str) -> bool:
    return (group_of(obj["apiVersion"]), obj["kind"]) == NAMESPACE and obj["metadata"].get(
        "name"
    ) == namespace


def _namespace_object(ctx: _Context) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ctx.namespace, "labels": dict(ctx.labels)},
    }
