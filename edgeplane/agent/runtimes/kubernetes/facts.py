"""The site's facts from its cluster (or its pool of a cluster): nodes and the pods on
them, read every 10 s and summed by ``nodes.cluster_facts`` into the Site's inventory,
capacity and allocatable. Also says whether the pool has a Ready node (removals wait
for one) and gives the pool's tolerations to render.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from edgeplane.agent.runtimes.kubernetes.client import KubeClient, KubeError
from edgeplane.agent.runtimes.kubernetes.nodes import ClusterFacts, cluster_facts, pool_tolerations
from edgeplane.agent.runtimes.kubernetes.pool import KubeSettings
from edgeplane.agent.runtimes.kubernetes.render import NodePool

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")
JOIN_FIELDS = ("runtime", "nodes", "kubernetesVersion", "accelerators")
"""Inventory fields a join sends (the Site's spec.runtime comes from it); the rest come
with the first status."""


class ClusterView:
    def __init__(self, client: KubeClient, settings: KubeSettings) -> None:
        self.client, self.settings = client, settings
        self.facts: ClusterFacts | None = None
        self._nodes: list[dict[str, Any]] = []
        self._version: str | None = None
        self.refreshed = asyncio.Event()

    async def refresh(self) -> None:
        """Read nodes and pods once; KubeError when the cluster does not answer."""
        nodes = await self.client.list("v1", "Node", label_selector=self.settings.node_selector)
        names = {str((n.get("metadata") or {}).get("name")) for n in nodes}
        # Only the pods on this site's nodes count against its room; the others are
        # dropped page by page (a central cluster's pods would fill the agent).
        mine: list[dict[str, Any]] = []
        async for page in self.client.pages("v1", "Pod"):
            mine += (p for p in page if (p.get("spec") or {}).get("nodeName") in names)
        version = await self._server_version()
        # In a worker thread: 20000 pods take most of a second to add up.
        self.facts = await asyncio.to_thread(cluster_facts, nodes, mine, version)
        self._nodes = nodes
        self.refreshed.set()

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except KubeError as e:
                log.warning("cluster facts not read: %s", e)
            except Exception:  # a node of an odd shape must not end the agent
                log.exception("cluster facts not read")
            await asyncio.sleep(self.settings.facts_seconds)

    async def _server_version(self) -> str | None:
        """The apiserver's version, asked once (it changes only with an upgrade, and a
        node's kubelet version comes first anyway)."""
        if self._version is None:
            try:
                self._version = await self.client.server_version()
            except KubeError as e:
                log.warning("server version not read: %s", e)
        return self._version

    def pool_ready(self) -> bool:
        """Whether removals may go ahead: always for a whole cluster; for a pool, once a
        node of it is known Ready (nothing is deleted while the pool is cut off)."""
        if self.settings.pool is None:
            return True
        return self.facts is not None and self.facts.ready_nodes > 0

    def node_pool(self) -> NodePool | None:
        pool = self.settings.pool
        if pool is None:
            return None
        return NodePool(selector={pool[0]: pool[1]}, tolerations=pool_tolerations(self._nodes))

    def inventory(self) -> dict[str, Any]:
        """``status.inventory`` of the site."""
        inventory: dict[str, Any] = {"runtime": "kubernetes"}
        if self.settings.node_selector is not None:
            inventory["nodePool"] = self.settings.node_selector
        facts = self.facts
        if facts is not None:
            inventory |= {
                "nodes": facts.nodes,
                "readyNodes": facts.ready_nodes,
                "architectures": list(facts.architectures),
                "accelerators": [dict(a) for a in facts.accelerators] or None,
                "kubernetesVersion": facts.kubernetes_version,
            }
        return {k: v for k, v in inventory.items() if v is not None}

    def join_inventory(self) -> dict[str, Any]:
        return {k: v for k, v in self.inventory().items() if k in JOIN_FIELDS}

    def resources(self) -> tuple[dict[str, str], dict[str, str]]:
        """``status.capacity`` and ``status.allocatable``: empty until the nodes are read."""
        if self.facts is None:
            return {}, {}
        return dict(self.facts.capacity), dict(self.facts.allocatable)
