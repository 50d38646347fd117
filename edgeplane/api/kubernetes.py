"""The ``kubernetes`` workload: ordinary manifests, server-side applied at the site, and
the per-site patches an override makes to them.

Only the shape is checked here (names fully matched, every count and size bounded);
applying patches belongs to ``hub.controllers.manifests``, and which namespaces a
manifest may write into to the Policies the hub reads at admission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from edgeplane.api.labels import check_dns1123_label, check_dns1123_subdomain
from edgeplane.api.meta import Flag, Model

MANIFESTS_MAX = 256
MANIFEST_MAX_BYTES = 256 * 1024
"""One manifest as compact JSON."""
MANIFESTS_MAX_BYTES = 1024 * 1024
"""All of a workload's manifests together, as compact JSON."""
PATCHES_MAX = 64
"""Patches in one override."""
JSON_PATCH_OPS_MAX = 256
"""Operations in one ``jsonPatch``."""
POINTER_MAX_CHARS = 1024
NAMESPACES_MAX = 256
"""Namespaces one Policy allows, or one Assignment may write into."""
SCALED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
"""The kinds whose ``spec.replicas`` a Divided assignment sets."""

# Fully matched, ASCII classes only (see ``labels``).
_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")
_VERSION = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")
JSON_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON; ValueError for what JSON cannot hold."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(text.encode())


def api_version_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "apiVersion is required: 'v1' for the core group, else 'group/version'"
    group, slash, version = value.rpartition("/")
    if not slash and value == "v1":
        return None
    if slash and not check_dns1123_subdomain(group) and _VERSION.fullmatch(version):
        return None
    return f"apiVersion {value[:80]!r} is not 'v1' or 'group/version' (e.g. 'apps/v1')"


def kind_problem(value: object) -> str | None:
    if isinstance(value, str) and _KIND.fullmatch(value):
        return None
    got = value[:80] if isinstance(value, str) else value
    return f"kind {got!r} is not a kind: a capital letter, then up to 62 letters or digits"


def name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "metadata.name is required: name the object"
    if problem := check_dns1123_subdomain(value):
        return f"metadata.name {value[:80]!r} {problem}"
    return None


def namespace_problem(value: object) -> str | None:
    if not isinstance(value, str) or check_dns1123_label(value):
        got = value[:80] if isinstance(value, str) else value
        return f"metadata.namespace {got!r} is not a namespace: a DNS-1123 label, e.g. 'shop'"
    return None


def manifest_problem(manifest: object) -> str | None:
    """What is wrong with one manifest's identity (apiVersion, kind, name, namespace)."""
    if not isinstance(manifest, Mapping):
        return (
            f"must be an object with apiVersion, kind and metadata (got {type(manifest).__name__})"
        )
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        return "metadata is required: an object with a name"
    return (
        api_version_problem(manifest.get("apiVersion"))
        or kind_problem(manifest.get("kind"))
        or name_problem(metadata.get("name"))
        or (namespace_problem(metadata["namespace"]) if "namespace" in metadata else None)
    )


def _manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    if problem := manifest_problem(manifest):
        raise ValueError(problem)
    return manifest


def _namespace(value: str) -> str:
    if problem := check_dns1123_label(value):
        raise ValueError(f"namespace {value[:80]!r} {problem}")
    return value


def _unique(values: Sequence[str], what: str) -> None:
    if twice := sorted({v for v in values if values.count(v) > 1}):
        raise ValueError(f"{what} {twice[0]!r} appears twice: list each once")


Manifest = Annotated[dict[str, Any], AfterValidator(_manifest)]
Namespace = Annotated[str, AfterValidator(_namespace)]
"""A Kubernetes namespace: a DNS-1123 label."""


class KubernetesWorkload(Model):
    manifests: list[Manifest] = Field(min_length=1, max_length=MANIFESTS_MAX)
    namespace: Namespace | None = None
    """Where namespaced manifests go; the application's name when unset."""
    force: Flag | None = None
    """Take fields another field manager owns (server-side apply's force)."""
    allowed_namespaces: list[Namespace] | None = Field(
        default=None, alias="allowedNamespaces", max_length=NAMESPACES_MAX
    )
    """Hub-written on Assignments: namespaces besides ``namespace`` the manifests may
    write into, as Policies allow (an Application may not set it)."""

    @field_validator("manifests")
    @classmethod
    def _sizes(cls, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Each measured once: every Assignment the hub renders is validated, site by site.
        total = 0
        for i, manifest in enumerate(manifests):
            try:
                size = json_size(manifest)
            except ValueError as e:
                raise ValueError(f"manifests[{i}] cannot be written as JSON ({e})") from e
            if size > MANIFEST_MAX_BYTES:
                raise ValueError(
                    f"manifests[{i}] is {size} bytes as JSON, over the limit of "
                    f"{MANIFEST_MAX_BYTES}: keep large data out of manifests (in an image, "
                    "or a ConfigMap of its own)"
                )
            total += size
        if total > MANIFESTS_MAX_BYTES:
            raise ValueError(
                f"the manifests are {total} bytes as JSON, over the limit of "
                f"{MANIFESTS_MAX_BYTES}: split the application"
            )
        return manifests

    @field_validator("allowed_namespaces")
    @classmethod
    def _once(cls, namespaces: list[str] | None) -> list[str] | None:
        _unique(namespaces or [], "namespace")
        return namespaces


def _api_version(value: str) -> str:
    if problem := api_version_problem(value):
        raise ValueError(problem)
    return value


def _kind(value: str) -> str:
    if problem := kind_problem(value):
        raise ValueError(problem)
    return value


def _name(value: str) -> str:
    if problem := check_dns1123_subdomain(value):
        raise ValueError(f"name {value[:80]!r} {problem}")
    return value


class ManifestTarget(Model):
    """Which manifest a patch changes: its kind and name (and apiVersion or namespace
    when two manifests share both)."""

    api_version: Annotated[str, AfterValidator(_api_version)] | None = Field(
        default=None, alias="apiVersion"
    )
    kind: Annotated[str, AfterValidator(_kind)]
    name: Annotated[str, AfterValidator(_name)]
    namespace: Namespace | None = None

    def matches(self, manifest: Mapping[str, Any]) -> bool:
        metadata = manifest.get("metadata") or {}
        return (
            manifest.get("kind") == self.kind
            and metadata.get("name") == self.name
            and self.api_version in (None, manifest.get("apiVersion"))
            and self.namespace in (None, metadata.get("namespace"))
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def pointer_problem(value: object, field: str) -> str | None:
    """Why ``value`` is not a JSON pointer (RFC 6901), or None."""
    if not isinstance(value, str):
        return f"{field} must be a JSON pointer string like '/spec/replicas'"
    if len(value) > POINTER_MAX_CHARS:
        return f"{field} is over {POINTER_MAX_CHARS} characters"
    if not _POINTER.fullmatch(value):
        return (
            f"{field} {value[:80]!r} is not a JSON pointer: start with '/', and write '~' "
            "as '~0' and '/' inside a key as '~1' (e.g. '/spec/replicas')"
        )
    return None


def json_patch_op_problem(op: Mapping[str, Any]) -> str | None:
    """What is wrong with one RFC 6902 operation, or None."""
    name = op.get("op")
    if name not in JSON_PATCH_OPS:
        return f"op {str(name)[:40]!r} is not one of {', '.join(JSON_PATCH_OPS)}"
    allowed = {"op", "path", "from"} if name in ("move", "copy") else {"op", "path", "value"}
    if name == "remove":
        allowed = {"op", "path"}
    if extra := sorted(set(op) - allowed):
        return f"{extra[0]!r} is not a field of op {name}: use {', '.join(sorted(allowed))}"
    if "value" in allowed and "value" not in op:
        return f"op {name} needs a value"
    if problem := pointer_problem(op.get("path"), "path"):
        return problem
    if "from" in allowed:
        return pointer_problem(op.get("from"), "from")
    return None


def _json_patch_op(op: dict[str, Any]) -> dict[str, Any]:
    if problem := json_patch_op_problem(op):
        raise ValueError(problem)
    return op


JsonPatchOp = Annotated[dict[str, Any], AfterValidator(_json_patch_op)]
"""One RFC 6902 operation, kept as written (a ``value`` of null is a value)."""


class ManifestPatch(Model):
    """A change to one manifest at the sites an override covers: a strategic merge
    ``patch`` or an RFC 6902 ``jsonPatch`` (exactly one)."""

    target: ManifestTarget
    patch: dict[str, Any] | None = None
    json_patch: list[JsonPatchOp] | None = Field(
        default=None, alias="jsonPatch", min_length=1, max_length=JSON_PATCH_OPS_MAX
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ManifestPatch:
        if (self.patch is None) == (self.json_patch is None):
            raise ValueError(
                "set exactly one of patch (a strategic merge patch) or jsonPatch (RFC 6902)"
            )
        if self.patch is not None and json_size(self.patch) > MANIFEST_MAX_BYTES:
            raise ValueError(f"patch is over {MANIFEST_MAX_BYTES} bytes as JSON: make it smaller")
        return self


def target_problem(target: ManifestTarget, manifests: Sequence[Mapping[str, Any]]) -> str | None:
    """Why ``target`` does not pick exactly one of ``manifests``, or None."""
    found = sum(1 for m in manifests if target.matches(m))
    if found == 1:
        return None
    names = ", ".join(
        f"{m.get('kind')} {(m.get('metadata') or {}).get('name')}" for m in manifests[:8]
    )
    if found == 0:
        return f"matches no manifest (there are: {names}): correct the kind or name"
    return f"matches {found} manifests: add apiVersion or namespace to tell them apart"
