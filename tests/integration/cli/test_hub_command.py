"""``edgeplane hub``: runs a real hub (HTTPS with its own CA) and leaves a "local"
context behind that trusts that CA, so the CLI works without flags."""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
from typer.testing import Result

from edgeplane.client.config import load_config
from tests.integration.cli.conftest import invoke
from tests.support.hub import wait_ready
from tests.support.ports import free_port

BIN = str(Path(sys.executable).parent / "edgeplane")


@contextlib.contextmanager
def edgeplane_hub(
    data_dir: Path,
    *global_args: str,
    env: dict[str, str],
    port: int | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[str]:
    """``edgeplane [GLOBAL_ARGS] hub`` as a subprocess; yields its URL once ready."""
    port = port or free_port()
    log = data_dir.parent / f"edgeplane-hub-{port}.log"
    cmd = [BIN, *global_args, "hub", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    cmd += extra
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPLANE_")}
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, env={**clean, **env}, stdout=out, stderr=out, text=True)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log, ca_file=data_dir / "tls" / "ca.crt")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert process.returncode == 0, log.read_text()


def cli(config: Path, *args: str) -> Result:
    return invoke({"EDGEPLANE_CONFIG": str(config)}, *args)


def test_hub_writes_local_context_to_the_env_config(tmp_path: Path) -> None:
    config = tmp_path / "env-config.yaml"
    with edgeplane_hub(tmp_path / "data", env={"EDGEPLANE_CONFIG": str(config)}) as url:
        assert config.stat().st_mode & 0o777 == 0o600
        data = load_config(config)
        assert data["current-context"] == "local"
        token = (tmp_path / "data" / "admin.token").read_text().strip()
        ca = base64.b64encode((tmp_path / "data" / "tls" / "ca.crt").read_bytes()).decode()
        assert data["contexts"] == [
            {"name": "local", "server": url, "token": token, "certificate-authority-data": ca}
        ]
        listed = cli(config, "get", "sites")
        assert listed.exit_code == 0, listed.stderr
        assert listed.stderr == "No sites found.\n"


def test_config_flag_wins_and_a_restart_keeps_the_users_choice(tmp_path: Path) -> None:
    flagged = tmp_path / "flag-config.yaml"
    ignored = tmp_path / "env-config.yaml"
    env = {"EDGEPLANE_CONFIG": str(ignored)}
    port = free_port()
    with edgeplane_hub(tmp_path / "data", "--config", str(flagged), env=env, port=port):
        assert not ignored.exists()
        assert cli(flagged, "config", "current-context").stdout == "local\n"
        site = "apiVersion: edgeplane.io/v1alpha1\nkind: Site\nmetadata: {name: s1}\n"
        applied = invoke({"EDGEPLANE_CONFIG": str(flagged)}, "apply", "-f", "-", stdin=site)
        assert applied.stdout == "site/s1 created\n", applied.stderr
    cli(flagged, "config", "set-context", "elsewhere", "--server", "http://127.0.0.1:1")
    # Same data dir: the admin token exists already, so the config file is left alone.
    with edgeplane_hub(tmp_path / "data", "--config", str(flagged), env=env, port=port):
        assert load_config(flagged)["current-context"] == "elsewhere"
        kept = cli(flagged, "--context", "local", "get", "sites", "-o", "name")
        assert kept.stdout == "site/s1\n", kept.stderr


def test_restart_on_another_address_repoints_local(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    env = {"EDGEPLANE_CONFIG": str(config)}
    with edgeplane_hub(tmp_path / "data", env=env):
        pass
    with edgeplane_hub(tmp_path / "data", env=env) as moved:
        local = [c for c in load_config(config)["contexts"] if c["name"] == "local"]
        assert [c["server"] for c in local] == [moved]
        listed = cli(config, "get", "sites")
        assert listed.exit_code == 0, listed.stderr


def test_hub_takes_the_limit_flags_and_refuses_unknown_ones(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with edgeplane_hub(data, env={}, extra=("--admin-rate", "1", "--admin-burst", "2")) as url:
        token = (data / "admin.token").read_text().strip()
        trust = ssl.create_default_context(cafile=data / "tls" / "ca.crt")
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(verify=trust) as client:
            answers = [client.get(f"{url}/api/v1alpha1/sites", headers=admin) for _ in range(4)]
        limited = [a for a in answers if a.status_code == 429]
        assert limited, [a.status_code for a in answers]
        assert "--admin-rate" in limited[0].json()["message"]
        assert "Retry-After" in limited[0].headers
    unknown = subprocess.run(
        [BIN, "hub", "--data-dir", str(data), "--no-such-limit", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2
    assert "--no-such-limit" in unknown.stderr
