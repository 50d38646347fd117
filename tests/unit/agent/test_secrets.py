"""agent.secrets: a site's Secrets fetched, kept sealed, given as env and files."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, cast

import pytest

from edgeplane.agent.errors import HubRefused, HubUnreachable
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.runtimes.process.records import Record
from edgeplane.agent.secrets import SECRETS_DIR_ENV, SecretKeeper, SecretProblem
from edgeplane.api.wire import Object


class Hub:
    """Answers the site's Secret route from ``values``, or raises ``error``."""

    def __init__(self, values: dict[str, dict[str, bytes]]) -> None:
        self.values, self.error = values, cast(Exception | None, None)
        self.asked: list[str] = []

    async def call(self, method: str, path: str, *_: Any, **__: Any) -> Any:
        self.asked.append(path)
        if self.error is not None:
            raise self.error
        name = path.rsplit("/", 1)[1]
        data = {k: base64.b64encode(v).decode() for k, v in self.values[name].items()}
        return {"name": name, "version": 1, "data": data}


def assignment(*uses: dict[str, Any]) -> Object:
    process = {"command": "x", "secrets": list(uses)}
    return {"metadata": {"name": "web.s1"}, "spec": {"workload": {"process": process}}}


def keeper(tmp_path: Path, hub: Hub) -> SecretKeeper:
    return SecretKeeper(tmp_path / "data", tmp_path / "work", cast(HubLink, hub), "s1")


def exists(*parts: str) -> bool:
    return Path(*parts).exists()


def every_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


async def test_env_and_files_and_sealed_at_rest(tmp_path: Path) -> None:
    hub = Hub({"db": {"pass-word": b"s3cret-value", "user.name": b"app"}})
    keep = keeper(tmp_path, hub)
    env = await keep.environment(
        "web.s1", assignment({"name": "db", "env": True, "envPrefix": "DB_", "files": True})
    )
    assert env["DB_PASS_WORD"] == "s3cret-value" and env["DB_USER_NAME"] == "app"
    folder = Path(env[SECRETS_DIR_ENV]) / "db"
    assert (folder / "pass-word").read_bytes() == b"s3cret-value"
    assert oct((folder / "pass-word").stat().st_mode & 0o777) == "0o400"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert hub.asked == ["/api/v1alpha1/sites/s1/secrets/db"]
    # At rest in the data dir: sealed, never the value.
    assert (tmp_path / "data" / "db.sealed").exists()
    assert b"s3cret-value" not in every_byte(tmp_path / "data")


async def test_offline_the_sealed_copy_is_used(tmp_path: Path) -> None:
    hub = Hub({"db": {"k": b"v1"}})
    await keeper(tmp_path, hub).values("db")
    hub.error = HubUnreachable("down")
    # A new keeper, as after an agent restart: the key and the copy are on disk.
    assert await keeper(tmp_path, hub).values("db") == {"k": b"v1"}


async def test_offline_without_a_copy_is_pending(tmp_path: Path) -> None:
    hub = Hub({})
    hub.error = HubUnreachable("down")
    with pytest.raises(SecretProblem) as caught:
        await keeper(tmp_path, hub).values("db")
    assert (caught.value.reason, caught.value.failed) == ("SecretUnavailable", False)


async def test_a_refusal_fails_and_forgets_the_copy(tmp_path: Path) -> None:
    hub = Hub({"db": {"k": b"v1"}})
    keep = keeper(tmp_path, hub)
    await keep.values("db")
    hub.error = HubRefused(403, "Forbidden", "not yours")
    with pytest.raises(SecretProblem) as caught:
        await keep.values("db")
    assert caught.value.failed and "not yours" in str(caught.value)
    assert not (tmp_path / "data" / "db.sealed").exists()


async def test_a_copy_under_another_name_does_not_open(tmp_path: Path) -> None:
    hub = Hub({"db": {"k": b"v1"}})
    keep = keeper(tmp_path, hub)
    await keep.values("db")
    os.replace(tmp_path / "data" / "db.sealed", tmp_path / "data" / "other.sealed")
    hub.error = HubUnreachable("down")
    with pytest.raises(SecretProblem):
        await keep.values("other")


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"data": "x"},
        {"data": {"../k": "dg=="}},
        {"data": {"k": "not base64!"}},
        {"data": {"k": 1}},
    ],
    ids=repr,
)
async def test_a_malformed_answer_is_not_taken(tmp_path: Path, answer: Any) -> None:
    hub = Hub({})

    async def call(*_: Any, **__: Any) -> Any:
        return answer

    hub.call = call  # type: ignore[method-assign]
    with pytest.raises(SecretProblem) as caught:
        await keeper(tmp_path, hub).values("db")
    assert caught.value.reason == "SecretUnavailable"


async def test_files_of_assignments_gone_are_removed(tmp_path: Path) -> None:
    hub = Hub({"db": {"k": b"v"}})
    keep = keeper(tmp_path, hub)
    env = await keep.environment("web.s1", assignment({"name": "db", "files": True}))
    assert "DB_K" not in env and "K" not in env
    keep.keep_only(["web.s1"])
    assert exists(env[SECRETS_DIR_ENV], "db", "k")
    keep.keep_only([])
    assert not exists(env[SECRETS_DIR_ENV])


def test_the_runtime_record_keeps_private_env_empty() -> None:
    workload = {"command": "x", "env": {"DB_PASS": "s3cret", "PLAIN": "p"}}
    record = Record("web.s1", 1, workload, private_env=["DB_PASS"])
    text = record.to_json()
    assert "s3cret" not in text and '"PLAIN": "p"' in text
    assert record.workload["env"]["DB_PASS"] == "s3cret"  # in memory, as given


async def test_the_hub_is_asked_once_for_each_generation(tmp_path: Path) -> None:
    hub = Hub({"db": {"k": b"v1"}})
    keep = keeper(tmp_path, hub)
    obj = assignment({"name": "db", "env": True})
    obj["metadata"]["uid"], obj["metadata"]["generation"] = "u1", 1
    for _ in range(3):
        assert (await keep.environment("web.s1", obj))["K"] == "v1"
    hub.values["db"] = {"k": b"v2"}
    assert (await keep.environment("web.s1", obj))["K"] == "v1"
    obj["metadata"]["generation"] = 2
    assert (await keep.environment("web.s1", obj))["K"] == "v2"
    assert len(hub.asked) == 2


async def test_binary_values_go_as_files_not_env(tmp_path: Path) -> None:
    hub = Hub({"tls": {"key.der": b"\x00\xff\x10"}})
    keep = keeper(tmp_path, hub)
    with pytest.raises(SecretProblem) as caught:
        await keep.environment("web.s1", assignment({"name": "tls", "env": True}))
    assert caught.value.reason == "SecretNotText" and "files: true" in str(caught.value)
    env = await keep.environment("web.s2", assignment({"name": "tls", "files": True}))
    assert read(env[SECRETS_DIR_ENV], "tls", "key.der") == b"\x00\xff\x10"


async def test_files_are_written_afresh_and_a_secret_no_longer_named_leaves(
    tmp_path: Path,
) -> None:
    hub = Hub({"db": {"k": b"v1", "old": b"x"}, "tls": {"t": b"y"}})
    keep = keeper(tmp_path, hub)
    obj = assignment({"name": "db", "files": True}, {"name": "tls", "files": True})
    obj["metadata"]["generation"] = 1
    env = await keep.environment("web.s1", obj)
    hub.values["db"] = {"k": b"v2"}
    obj = assignment({"name": "db", "files": True})
    obj["metadata"]["generation"] = 2
    assert await keep.environment("web.s1", obj) == env
    assert read(env[SECRETS_DIR_ENV], "db", "k") == b"v2"
    assert not exists(env[SECRETS_DIR_ENV], "db", "old")
    assert not exists(env[SECRETS_DIR_ENV], "tls")
    assert oct(mode(tmp_path / "work") & 0o777) == "0o711"


def read(*parts: str) -> bytes:
    return Path(*parts).read_bytes()


def mode(path: Path) -> int:
    return path.stat().st_mode
