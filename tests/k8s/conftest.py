"""Fixture: real Kubernetes control planes from hack/kube, one per simulated site.

In CI (``CI=true``) a harness that cannot be built or started fails these tests.
On a developer machine without Go they are skipped with one line saying why. A
failing test's report carries the tail of every cluster process's log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from hack.kube.cluster import Cluster, Fleet, HarnessError, build

CLUSTERS = 2
NODES = 3
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


def _unavailable(reason: str) -> None:
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
        _unavailable(problem)
    fleet = Fleet(Path(tmp_path_factory.mktemp("kube")))
    try:
        clusters = fleet.up(CLUSTERS, nodes=NODES)
    except HarnessError as e:
        pytest.fail(str(e))
    yield clusters
    fleet.down()


@pytest.fixture
def cluster(kube_fleet: list[Cluster]) -> Cluster:
    return kube_fleet[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    fleet = getattr(item, "funcargs", {}).get("kube_fleet")
    if report.failed and fleet:
        for each in fleet:
            report.sections.append((f"kube logs {each.name}", each.logs()))
    return report
