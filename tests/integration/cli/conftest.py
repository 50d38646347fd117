"""One real hub process per module, the CLI run in-process against it, and a direct
client to check what the hub holds (independently of what the CLI printed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import edgeplane.main  # noqa: F401  (registers the commands that run servers)
from edgeplane.api.kinds import KINDS
from edgeplane.cli import app
from edgeplane.client.errors import ClientError
from edgeplane.client.hub import HubClient
from tests.support.hub import HubProcess, running_hub

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(tmp_path_factory.mktemp("hub") / "data") as process:
        yield process


@pytest.fixture
def client(hub: HubProcess) -> Iterator[HubClient]:
    """A client of the module's hub; every object is deleted after the test."""
    with HubClient(hub.url, hub.token) as direct:
        yield direct
        for info in KINDS:
            for obj in direct.list_all(info.plural):
                try:
                    direct.delete(info.plural, obj["metadata"]["name"])
                except ClientError as e:
                    if e.status != 404:  # placement deletes a deleted app's assignments too
                        raise


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    """``edgeplane ARGS`` in this process, with only ``env`` of the EDGEPLANE_* variables."""
    clean = dict.fromkeys(("EDGEPLANE_CONFIG", "EDGEPLANE_SERVER", "EDGEPLANE_TOKEN"))
    return CliRunner().invoke(
        app, list(args), input=stdin, env={**clean, **env}, catch_exceptions=False
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config.yaml"


@pytest.fixture
def cli(hub: HubProcess, client: HubClient, config_file: Path) -> Run:
    """The CLI pointed at the module's hub by EDGEPLANE_SERVER/EDGEPLANE_TOKEN."""
    env = {"EDGEPLANE_CONFIG": str(config_file), "EDGEPLANE_SERVER": hub.url}
    env["EDGEPLANE_TOKEN"] = hub.token

    def run(*args: str, stdin: str | None = None) -> Result:
        return invoke(env, *args, stdin=stdin)

    return run


@pytest.fixture
def bare_cli(config_file: Path) -> Run:
    """The CLI with only a config file: flags and contexts decide where it connects."""

    def run(*args: str, stdin: str | None = None) -> Result:
        return invoke({"EDGEPLANE_CONFIG": str(config_file)}, *args, stdin=stdin)

    return run
