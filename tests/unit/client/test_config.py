"""The contexts file: where it lives, how it is written, and which setting wins."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from edgeplane.client.config import (
    DEFAULT_SERVER,
    ConfigError,
    Target,
    add_context,
    config_path,
    load_config,
    resolve,
    save_config,
)

HUBS = {
    "a": ("http://hub-a:8080", "ep_a_secret"),
    "b": ("http://hub-b:8080", "ep_b_secret"),
}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two contexts, "a" current; no EDGEPLANE_* variables leaking in from outside."""
    for var in (
        "EDGEPLANE_CONFIG",
        "EDGEPLANE_SERVER",
        "EDGEPLANE_TOKEN",
        "EDGEPLANE_CERTIFICATE_AUTHORITY",
    ):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "config.yaml"
    add_context(path, "b", *HUBS["b"])
    add_context(path, "a", *HUBS["a"])
    return path


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("/flag.yaml", "/env.yaml", "/flag.yaml"),
        (None, "/env.yaml", "/env.yaml"),
        (None, None, "~/.edgeplane/config.yaml"),
    ],
    ids=["flag-wins", "env-over-default", "default-in-home"],
)
def test_config_path_precedence(
    monkeypatch: pytest.MonkeyPatch, flag: str | None, env: str | None, expected: str
) -> None:
    monkeypatch.delenv("EDGEPLANE_CONFIG", raising=False)
    if env:
        monkeypatch.setenv("EDGEPLANE_CONFIG", env)
    assert config_path(flag) == Path(expected).expanduser()


def test_saved_file_is_private_and_round_trips(config: Path) -> None:
    assert config.stat().st_mode & 0o777 == 0o600
    data = load_config(config)
    assert data["current-context"] == "a"
    assert [c["name"] for c in data["contexts"]] == ["b", "a"]


def test_save_tightens_an_existing_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("contexts: []\n")
    path.chmod(0o644)
    save_config(path, {"current-context": None, "contexts": []})
    assert path.stat().st_mode & 0o777 == 0o600


def test_add_context_replaces_same_name_and_can_leave_current_alone(config: Path) -> None:
    add_context(config, "b", "http://moved:9", "ep_new", make_current=False)
    data = load_config(config)
    assert data["current-context"] == "a"
    assert [c for c in data["contexts"] if c["name"] == "b"] == [
        {"name": "b", "server": "http://moved:9", "token": "ep_new"}
    ]


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    assert load_config(tmp_path / "nope.yaml") == {"current-context": None, "contexts": []}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ({}, {}, Target(*HUBS["a"])),
        ({"context": "b"}, {}, Target(*HUBS["b"])),
        ({}, {"EDGEPLANE_SERVER": "http://env:1"}, Target("http://env:1", HUBS["a"][1])),
        ({}, {"EDGEPLANE_TOKEN": "ep_env"}, Target(HUBS["a"][0], "ep_env")),
        (
            {"server": "http://flag:2/", "token": "ep_flag"},
            {"EDGEPLANE_SERVER": "http://env:1", "EDGEPLANE_TOKEN": "ep_env"},
            Target("http://flag:2", "ep_flag"),
        ),
        ({"context": "b", "token": "ep_flag"}, {}, Target(HUBS["b"][0], "ep_flag")),
    ],
    ids=[
        "current-context",
        "named-context",
        "env-server-over-context",
        "env-token-over-context",
        "flags-over-env",
        "flag-token-with-named-context",
    ],
)
def test_resolve_precedence(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, str],
    env: dict[str, str],
    expected: Target,
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert resolve(**args, path=config) == expected


def test_resolve_without_any_config_uses_the_default_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEPLANE_SERVER", raising=False)
    monkeypatch.delenv("EDGEPLANE_TOKEN", raising=False)
    monkeypatch.setenv("EDGEPLANE_CONFIG", str(tmp_path / "absent.yaml"))
    assert resolve() == Target(DEFAULT_SERVER, None)


def test_unknown_context_names_the_known_ones_and_the_fix(config: Path) -> None:
    with pytest.raises(ConfigError, match=r"no context named 'c' \(known: b, a\).*set-context"):
        resolve("c", path=config)


@pytest.mark.parametrize(
    "text",
    ["contexts: [unclosed\n", "- just\n- a list\n", "contexts: {name: x}\n"],
    ids=["bad-yaml", "not-a-mapping", "contexts-not-a-list"],
)
def test_broken_config_file_is_a_config_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_a_context_keeps_the_hubs_ca_as_base64_data(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    add_context(path, "tls", "https://hub:8080", "ep_t_secret", ca_pem=CA_PEM)
    (context,) = load_config(path)["contexts"]
    assert base64.b64decode(context["certificate-authority-data"]).decode() == CA_PEM
    assert resolve(path=path).ca_pem == CA_PEM


def test_a_ca_file_flag_wins_over_the_env_and_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    add_context(path, "tls", "https://hub:8080", None, ca_pem=CA_PEM)
    flag, env = tmp_path / "flag.crt", tmp_path / "env.crt"
    flag.write_text(CA_PEM.replace("MIIB", "FLAG"))
    env.write_text(CA_PEM.replace("MIIB", "ENVV"))
    monkeypatch.setenv("EDGEPLANE_CERTIFICATE_AUTHORITY", str(env))
    assert "FLAG" in str(resolve(path=path, ca_file=flag).ca_pem)
    assert "ENVV" in str(resolve(path=path).ca_pem)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("not base64!", "not base64 of a PEM"), (base64.b64encode(b"x").decode(), None)],
    ids=["bad-base64", "not-a-certificate"],
)
def test_a_broken_ca_is_a_config_error(tmp_path: Path, stored: str, expected: str | None) -> None:
    path = tmp_path / "config.yaml"
    save_config(
        path,
        {
            "current-context": "c",
            "contexts": [
                {"name": "c", "server": "https://h:1", "certificate-authority-data": stored}
            ],
        },
    )
    if expected:
        with pytest.raises(ConfigError, match=expected):
            resolve(path=path)
    else:
        with pytest.raises(ConfigError, match="not a PEM certificate"):
            resolve(path=path).verify()


def test_a_missing_ca_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.crt"):
        resolve(path=tmp_path / "none.yaml", ca_file=tmp_path / "absent.crt")


def test_without_a_ca_the_system_trust_is_used(config: Path) -> None:
    assert resolve(path=config).verify() is True
