"""From the agent's flags to a running ``KubernetesRuntime``.

Which cluster: ``--kubeconfig FILE`` (with ``--kube-context``), else the pod's own
service account when the agent runs in the cluster (``KUBERNETES_SERVICE_HOST`` set),
else the first file of ``$KUBECONFIG``, else a clear error. The agent calls this only
with ``--runtime kubernetes``, so a process-mode agent never loads this package:
``runtimes.factory`` imports it inside its kubernetes builder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from edgeplane.agent.runtimes.kubernetes.client import KubeClient
from edgeplane.agent.runtimes.kubernetes.config import (
    KubeConfig,
    KubeConfigError,
    in_cluster_config,
    load_kubeconfig,
)
from edgeplane.agent.runtimes.kubernetes.facts import ClusterView
from edgeplane.agent.runtimes.kubernetes.pool import KubeSettings
from edgeplane.agent.runtimes.kubernetes.runtime import KubernetesRuntime

NO_CLUSTER = (
    "--runtime kubernetes needs a cluster: pass --kubeconfig FILE, run the agent as a pod "
    "of the cluster (in-cluster config), or set $KUBECONFIG"
)


def kube_config(
    kubeconfig: Path | None,
    context: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> KubeConfig:
    """The cluster the flags name; KubeConfigError (a ValueError) saying the fix."""
    if kubeconfig is not None:
        return load_kubeconfig(kubeconfig, context)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_config(environ)
    first = next((p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p), None)
    if first is not None:
        return load_kubeconfig(Path(first), context)
    raise KubeConfigError(NO_CLUSTER)


def kubernetes_runtime(
    config: KubeConfig, settings: KubeSettings, directory: Path
) -> KubernetesRuntime:
    client = KubeClient(config)
    return KubernetesRuntime(client, ClusterView(client, settings), directory)


def kubernetes_builder(
    kubeconfig: Path | None,
    context: str | None,
    directory: Path,
    *,
    pool: tuple[str, str] | None = None,
    poll_seconds: float = 2.0,
    max_instances: int = 256,
) -> Callable[[str], KubernetesRuntime]:
    """The cluster resolved now (KubeConfigError before the agent joins); the runtime
    built for the site once its name is known."""
    config = kube_config(kubeconfig, context)

    def for_site(site: str) -> KubernetesRuntime:
        settings = KubeSettings(
            site, pool=pool, poll_seconds=poll_seconds, max_instances=max_instances
        )
        return kubernetes_runtime(config, settings, directory)

    return for_site
