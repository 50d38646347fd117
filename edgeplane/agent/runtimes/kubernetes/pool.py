"""What the agent's Kubernetes flags mean: the node pool a site is, the namespaces and
field manager it writes with, and the label selector it reads back with.

Pure (no I/O). One agent process serves one pool: the pool is the site, with its own
credential, heartbeat, lease and Offline state, so a pool cut off from the central
cluster goes Offline alone and placement moves only its workloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes.kubernetes.render import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SITE_LABEL,
    label_value,
)
from edgeplane.api.labels import check_label_key, check_label_value

NAMESPACE_MAX = 63
HASH_CHARS = 8


def parse_node_pool(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--node-pool``; ValueError naming the flag and the fix."""
    key, sep, value = text.partition("=")
    problem = None if sep else "give KEY=VALUE, e.g. edgeplane.io/site=pool-a"
    problem = problem or check_label_key(key) or check_label_value(value)
    if problem is None and not value:
        problem = "the value is empty: give the node label's value, e.g. edgeplane.io/site=pool-a"
    if problem:
        raise ValueError(f"--node-pool {text!r}: {problem}")
    return key, value


def pool_namespace(namespace: str, site: str) -> str:
    """``<namespace>-<site>``, a DNS-1123 label: two pools never share a namespace.
    Cut to 63 characters with a hash of both names, so that long names stay apart."""
    whole = f"{namespace}-{site.replace('.', '-')}"
    if len(whole) <= NAMESPACE_MAX:
        return whole
    digest = hashlib.sha256(f"{namespace}\0{site}".encode()).hexdigest()[:HASH_CHARS]
    return f"{whole[: NAMESPACE_MAX - HASH_CHARS - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class KubeSettings:
    """The Kubernetes side of one agent: its site, and the pool when it serves one."""

    site: str
    pool: tuple[str, str] | None = None
    """The node label (key, value) that selects the pool's nodes; None: the whole cluster."""
    poll_seconds: float = 2.0
    facts_seconds: float = 10.0
    max_instances: int = 256

    @property
    def field_manager(self) -> str:
        # Per pool: pools of one cluster must not take each other's fields.
        return "edgeplane" if self.pool is None else f"edgeplane-{self.site}"

    @property
    def selector(self) -> str:
        """The label selector of the objects this agent applied."""
        managed = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        if self.pool is None:
            return managed
        return f"{managed},{SITE_LABEL}={label_value(self.site, 'site')}"

    @property
    def node_selector(self) -> str | None:
        return None if self.pool is None else f"{self.pool[0]}={self.pool[1]}"

    def namespace(self, namespace: str) -> str:
        """Where an assignment's ``namespace`` lands at this site."""
        return namespace if self.pool is None else pool_namespace(namespace, self.site)


def site_workload(workload: Mapping[str, Any], settings: KubeSettings) -> dict[str, Any]:
    """The workload as this site applies it: in pool mode its namespace, its allowed
    namespaces and the manifests naming either are moved to the pool's own."""
    own = str(workload.get("namespace") or "")
    out = {k: v for k, v in workload.items() if k != "identity"}
    out["namespace"] = settings.namespace(own)
    if settings.pool is None:
        return out
    allowed = [str(n) for n in workload.get("allowedNamespaces") or []]
    out["allowedNamespaces"] = [settings.namespace(n) for n in allowed]
    moved = {own, *allowed}
    out["manifests"] = [_moved(m, moved, settings) for m in workload.get("manifests") or []]
    return out


def _moved(manifest: Any, namespaces: set[str], settings: KubeSettings) -> Any:
    meta = manifest.get("metadata") if isinstance(manifest, dict) else None
    if not isinstance(meta, dict) or meta.get("namespace") not in namespaces:
        return manifest
    namespace = settings.namespace(str(meta["namespace"]))
    return {**manifest, "metadata": {**meta, "namespace": namespace}}
