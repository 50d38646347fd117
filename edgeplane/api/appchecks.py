"""Checks of an ``Application`` that span several of its fields, each answered as a
``FieldError`` naming the exact field (a model validator could only name the object).

* a kubernetes workload needs a namespace: its own, or the application's name when
  that is a DNS-1123 label;
* ``allowedNamespaces`` is the hub's to write (from Policies), never the application's;
* override ``patches`` are for kubernetes workloads, and each ``target`` picks exactly
  one manifest (of the list the override's ``values`` leave).

``validation.validate_object`` runs these after the model.
"""

from __future__ import annotations

from edgeplane.api.applications import Application
from edgeplane.api.errors import FieldError
from edgeplane.api.kubernetes import target_problem
from edgeplane.api.labels import check_dns1123_label

KUBERNETES = "spec.workload.kubernetes"


def application_problems(app: Application) -> tuple[FieldError, ...]:
    return (*_namespace_problems(app), *_patch_problems(app))


def resolved_namespace(app_name: str, namespace: str | None) -> str | None:
    """The namespace namespaced manifests go into, or None when there is none."""
    if namespace is not None:
        return namespace
    return None if check_dns1123_label(app_name) else app_name


def _namespace_problems(app: Application) -> list[FieldError]:
    kubernetes = app.spec.workload.kubernetes
    if kubernetes is None:
        return []
    found = []
    if kubernetes.allowed_namespaces is not None:
        found.append(
            FieldError(
                f"{KUBERNETES}.allowedNamespaces",
                "is written by the hub from Policies (spec.kubernetes.allowedNamespaces of a "
                "Policy of scope Admission): remove it",
            )
        )
    if resolved_namespace(app.metadata.name, kubernetes.namespace) is None:
        found.append(
            FieldError(
                f"{KUBERNETES}.namespace",
                f"is needed: the application's name {app.metadata.name!r} is not a DNS-1123 "
                "label (at most 63 characters, no '.'), so it cannot be the namespace: set "
                "a namespace, e.g. 'shop'",
            )
        )
    return found


def _patch_problems(app: Application) -> list[FieldError]:
    kubernetes = app.spec.workload.kubernetes
    found = []
    for i, override in enumerate(app.spec.overrides or ()):
        if override.patches and kubernetes is None:
            found.append(
                FieldError(
                    f"spec.overrides[{i}].patches",
                    "change kubernetes manifests, and this workload is a process: use "
                    "spec.overrides[].values",
                )
            )
            continue
        manifests = override.manifests(kubernetes.manifests if kubernetes else [])
        for j, patch in enumerate(override.patches or ()):
            if problem := target_problem(patch.target, manifests):
                found.append(FieldError(f"spec.overrides[{i}].patches[{j}].target", problem))
    return found
