"""Where the CLI connects and with which token: contexts, precedence, and the exit
codes for an unreachable hub (3) and a refused token (4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeplane.client.config import add_context, load_config
from tests.integration.cli.conftest import Run
from tests.support.hub import HubProcess
from tests.support.ports import free_port

WRONG_TOKEN = "ep_000000000000_not-the-right-secret"


def test_set_use_and_list_contexts(bare_cli: Run, hub: HubProcess, config_file: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert (
        bare_cli(
            "config", "set-context", "real", "--server", hub.url + "/", "--token", hub.token
        ).exit_code
        == 0
    )
    assert bare_cli("config", "set-context", "dead", "--server", dead).exit_code == 0
    assert config_file.stat().st_mode & 0o777 == 0o600
    assert bare_cli("config", "current-context").stdout == "dead\n"
    assert bare_cli("get", "sites").exit_code == 3
    switched = bare_cli("config", "use-context", "real")
    assert switched.stdout == 'Switched to context "real".\n'
    assert bare_cli("get", "sites").exit_code == 0
    listed = [line.split() for line in bare_cli("config", "get-contexts").stdout.splitlines()]
    assert listed == [["CURRENT", "NAME", "SERVER"], ["*", "real", hub.url], ["dead", dead]]


def test_context_flag_and_unknown_context(
    bare_cli: Run, hub: HubProcess, config_file: Path
) -> None:
    add_context(config_file, "real", hub.url, hub.token, make_current=False)
    add_context(config_file, "dead", f"http://127.0.0.1:{free_port()}", None)
    assert bare_cli("--context", "real", "get", "sites").exit_code == 0
    unknown = bare_cli("--context", "nope", "get", "sites")
    assert unknown.exit_code == 1
    assert "no context named 'nope' (known: real, dead)" in unknown.stderr
    assert bare_cli("config", "use-context", "nope").exit_code == 1
    assert load_config(config_file)["current-context"] == "dead"


def test_config_flag_beats_the_environment(bare_cli: Run, hub: HubProcess, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    add_context(other, "real", hub.url, hub.token)
    assert bare_cli("--config", str(other), "get", "sites").exit_code == 0
    assert bare_cli("config", "current-context").exit_code == 1


def test_flags_beat_context(bare_cli: Run, hub: HubProcess, config_file: Path) -> None:
    add_context(config_file, "stale", f"http://127.0.0.1:{free_port()}", WRONG_TOKEN)
    assert bare_cli("--server", hub.url, "--token", hub.token, "get", "sites").exit_code == 0


@pytest.mark.parametrize(
    "token", [WRONG_TOKEN, None, "not-even-shaped-like-a-token"], ids=["wrong", "none", "garbage"]
)
def test_refused_token_exits_4(bare_cli: Run, hub: HubProcess, token: str | None) -> None:
    args = ["--server", hub.url] + (["--token", token] if token else [])
    for command in (["get", "sites"], ["apply", "-f", "-"], ["delete", "site", "x"]):
        stdin = "apiVersion: edgeplane.io/v1alpha1\nkind: Site\nmetadata: {name: x}\n"
        result = bare_cli(*args, *command, stdin=stdin)
        assert result.exit_code == 4, (command, result.stderr)
        assert result.stderr.startswith("error: ") and "token" in result.stderr


def test_unreachable_hub_exits_3_and_names_it(bare_cli: Run) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    result = bare_cli("--server", server, "get", "sites")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: cannot reach the hub at {server}")
    assert "edgeplane hub" in result.stderr


def test_version_with_and_without_a_hub(bare_cli: Run, hub: HubProcess) -> None:
    reachable = bare_cli("--server", hub.url, "--token", hub.token, "version")
    assert reachable.stdout.splitlines() == ["client: 0.1.0", f"hub:    0.1.0 at {hub.url}"]
    alone = bare_cli("--server", f"http://127.0.0.1:{free_port()}", "version")
    assert alone.exit_code == 0
    assert alone.stdout.startswith("client: 0.1.0\nhub:    not available (cannot reach")


def test_broken_config_file_is_named(bare_cli: Run, config_file: Path) -> None:
    config_file.write_text(yaml.safe_dump(["not", "a", "mapping"]))
    result = bare_cli("get", "sites")
    assert result.exit_code == 1
    assert str(config_file) in result.stderr
