"""Fixtures: real Kubernetes control planes from hack/kube, and a real edgeplane fleet
on them, shared by the whole session (tests use their own application names).

``kube_fleet``: clusters ``site-0`` .. ``site-2`` (3 nodes each) and ``central`` (2 node
pools, ``pool-a`` and ``pool-b``, of 2 nodes each). ``edge``: a hub and five agents run
with ``--runtime kubernetes``: sites ``site-0`` .. ``site-2`` (a cluster each, labelled
``shape=cluster``) and ``pool-a``, ``pool-b`` (pools of ``central``, ``shape=pool``);
every site also carries ``at=<its name>``.

In CI (``CI=true``) a harness that cannot be built or started fails these tests.
On a developer machine without Go they are skipped with one line saying why. A
failing test's report carries the tail of every cluster process's log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from edgeplane.agent.runtimes.kubernetes.client import KubeClient
from edgeplane.agent.runtimes.kubernetes.config import load_kubeconfig
from hack.kube.cluster import Cluster, HarnessError, build
from hack.kube.fleet import Fleet
from tests.support.fleet import Fleet as EdgeFleet
from tests.support.fleet import wait_for
from tests.support.kube import kube_agent

CLUSTERS = 3
NODES = 3
POOLS = ("pool-a", "pool-b")
POOL_NODES = 2
HERE = Path(__file__).resolve().parent
# Why the harness is unavailable ("" when it was built), set once per session.
BUILD_PROBLEM = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Build (or find cached) binaries before any test runs, so that a cold build
    (about 20 minutes) is not cut short by a test's timeout."""
    if BUILD_PROBLEM in config.stash or not any(HERE in i.path.parents for i in items):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    problem = ""
    if shutil.which("go") is None:
        problem = "Go is not installed, so hack/kube/build cannot run"
    else:
        say("tests/k8s: hack/kube/build (cached binaries are reused)")
        try:
            build()
        except HarnessError as e:
            problem = str(e)
    if problem and os.environ.get("CI") != "true":
        say(f"tests/k8s will be skipped: {problem.splitlines()[0]}")
    config.stash[BUILD_PROBLEM] = problem


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Kubernetes test harness is required in CI (CI=true): {reason}")
    pytest.skip(f"Kubernetes harness unavailable: {reason.splitlines()[0]}")


@pytest.fixture(scope="session")
def kube_fleet(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[list[Cluster]]:
    """Real control planes (kine, apiserver, controller-manager, scheduler, KWOK)."""
    problem = pytestconfig.stash.get(BUILD_PROBLEM, "hack/kube/build did not run")
    if problem:
        unavailable(problem)
    fleet = Fleet(Path(tmp_path_factory.mktemp("kube")))
    try:
        clusters = fleet.up(CLUSTERS, nodes=NODES, pools=POOLS, pool_nodes=POOL_NODES)
    except HarnessError as e:
        pytest.fail(str(e))
    yield clusters
    fleet.down()


@pytest.fixture
def cluster(kube_fleet: list[Cluster]) -> Cluster:
    return kube_fleet[0]


@dataclass
class Edge:
    """The session's hub and agents, and the cluster behind each site."""

    fleet: EdgeFleet
    clusters: dict[str, Cluster]
    """Site name -> the cluster it runs on (both pools -> ``central``)."""

    @property
    def central(self) -> Cluster:
        return self.clusters[POOLS[0]]


def online(fleet: EdgeFleet, site: str) -> bool:
    return fleet.site_phase(site) == "Online"


@pytest.fixture(scope="session")
def edge(kube_fleet: list[Cluster], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    fleet = EdgeFleet(Path(tmp_path_factory.mktemp("edge")))
    fleet.start_hub()
    try:
        clusters = {c.name: c for c in kube_fleet if not c.pools}
        central = next(c for c in kube_fleet if c.pools)
        for name, each in clusters.items():
            kube_agent(fleet, name, each, {"shape": "cluster", "at": name})
        for pool in POOLS:
            kube_agent(fleet, pool, central, {"shape": "pool", "at": pool}, pool=pool)
            clusters[pool] = central
        for name in clusters:
            wait_for(partial(online, fleet, name), f"site {name} Online", 60)
        yield Edge(fleet, clusters)
    finally:
        fleet.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    funcargs = getattr(item, "funcargs", {})
    fleet = funcargs.get("kube_fleet")
    if report.failed and fleet:
        for each in fleet:
            report.sections.append((f"kube logs {each.name}", each.logs()))
    edge = funcargs.get("edge")
    if report.failed and isinstance(edge, Edge):
        hub_log = edge.fleet.root / "hub.log"
        if hub_log.exists():
            report.sections.append(("hub log", hub_log.read_text()[-4000:]))
        for name, agent in edge.fleet.agents.items():
            if agent.log.exists():
                report.sections.append((f"agent log {name}", agent.log.read_text()[-4000:]))
    return report


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    """The agent's own Kubernetes client, on the first cluster."""
    client = KubeClient(load_kubeconfig(cluster.kubeconfig))
    yield client
    await client.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[EdgeFleet]:
    """A real hub of its own for one test (agents are added by the test)."""
    fleet = EdgeFleet(tmp_path)
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()
