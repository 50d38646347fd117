"""Fixture: real Kubernetes control planes from hack/kube, one per simulated site.

In CI (``CI=true``) a harness that cannot be built or started fails these tests.
On a developer machine without Go they are skipped with one line saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.kube.cluster import Cluster, Fleet, HarnessError, build


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Kubernetes test harness is required in CI: {reason}")
    pytest.skip(f"Kubernetes harness unavailable: {reason}")


@pytest.fixture(scope="session")
def kube_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Cluster]]:
    """Two real control planes (kine, apiserver, controller-manager, scheduler, KWOK)."""
    if shutil.which("go") is None:
        _unavailable("Go is not installed, so hack/kube/build cannot build the binaries")
    try:
        build()
    except HarnessError as e:
        _unavailable(str(e))
    fleet = Fleet(Path(tmp_path_factory.mktemp("kube")))
    try:
        clusters = fleet.up(2, nodes=3)
    except HarnessError as e:
        fleet.down()
        pytest.fail(str(e))
    yield clusters
    fleet.down()


@pytest.fixture
def cluster(kube_fleet: list[Cluster], request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield kube_fleet[0]
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(kube_fleet[0].logs())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
