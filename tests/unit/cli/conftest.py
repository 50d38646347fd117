"""The CLI run in-process against ``httpx.MockTransport``: for the commands' own
behaviour (parsing, printing, exit codes). What the hub does is tested against a real
hub in tests/integration/cli/."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner, Result

import edgeplane.main  # noqa: F401  (registers the commands that run servers)
from edgeplane.cli import app
from edgeplane.cli.app import Globals
from edgeplane.client.hub import HubClient

SERVER = "http://hub.test"
Handler = Callable[[httpx.Request], httpx.Response]
MockCli = Callable[..., Result]


@pytest.fixture
def mock_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], MockCli]:
    """``mock_cli(handler)("logs", ...)``: the command, its hub answered by ``handler``."""

    def bind(handler: Handler) -> MockCli:
        def client(self: Globals) -> HubClient:
            return HubClient(SERVER, "ep_admin", transport=httpx.MockTransport(handler))

        monkeypatch.setattr(Globals, "client", client)

        def run(*args: str) -> Result:
            return CliRunner().invoke(app, list(args), catch_exceptions=False)

        return run

    return bind


def hub_error(status: int, reason: str, message: str) -> Handler:
    return lambda request: httpx.Response(status, json={"reason": reason, "message": message})
