"""Fixtures for network faults: ``toxiproxy`` (one server for the session, and its
client) and ``lossy_netns`` (a network namespace of the test's own, no loss yet).

Both need something this machine may lack: a Go toolchain for ``hack/toxiproxy/build``
(run here when Go is present; cached, so a few milliseconds when built), or root and
``nft`` (``scripts/ensure-nftables`` runs when ``nft`` is missing). Without them the
tests are skipped with the reason, or fail when ``CI=true``. Other test folders can
wrap ``running_toxiproxy`` and ``lossy_namespace`` the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support.netns import LossyNamespace, NetnsUnavailable, lossy_namespace
from tests.support.toxiproxy import (
    REPO,
    Toxiproxy,
    ToxiproxyUnavailable,
    find_binary,
    running_toxiproxy,
)


def unavailable(what: str, reason: object) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI (CI=true): {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture(scope="session")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Toxiproxy]:
    log = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log"
    try:
        binary = find_binary(build=shutil.which("go") is not None)
        with log.open("wb") as out, running_toxiproxy(binary, out) as client:
            yield client
    except ToxiproxyUnavailable as e:
        unavailable("toxiproxy", e)


@pytest.fixture
def lossy_netns() -> Iterator[LossyNamespace]:
    if shutil.which("nft") is None and os.geteuid() == 0:
        subprocess.run([str(REPO / "scripts" / "ensure-nftables")], check=False)
    try:
        with lossy_namespace() as space:
            yield space
    except NetnsUnavailable as e:
        unavailable("a network namespace with nftables", e)
