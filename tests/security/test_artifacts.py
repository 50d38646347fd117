"""Class 4, artifacts: hostile tarballs crafted member by member with ``tarfile.TarInfo``,
uploaded to a real hub (refused with a 422 naming the member, the limit and its flag,
nothing stored) and, written straight into the hub's artifact directory so that they
get past it, unpacked by a real agent (refused there too; the workload never reads the
site's credential through a link, and the agent keeps running what it ran).

Each test failed on the code before issue 9 (6a13aa7): the hub stored a hard link to a
symbolic link (which the agent's ``tarfile`` turned into a link out of the artifact's
directory: the workload read the credential), a member that replaced a link, a
256 MiB bomb, 50,001 members, 300-character names and names with a newline, and
accepted ``demo\\n`` as an artifact name.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, tarball, wait_for
from tests.support.hub import HubProcess, running_hub
from tests.support.tarballs import DIR, FILE, HARD, SYM, bomb, many, packed

API = "/api/v1alpha1"


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real hub for the upload tests: each leaves it holding nothing, as it found it."""
    data = tmp_path_factory.mktemp("artifacts") / "hub"
    data.mkdir()
    with running_hub(data) as hub:
        yield hub


@pytest.fixture
def client(shared_hub: HubProcess) -> Iterator[httpx.Client]:
    hub = shared_hub
    with httpx.Client(
        base_url=f"{hub.url}{API}", headers=hub.headers(), verify=hub.verify, timeout=60
    ) as client:
        assert_nothing_stored(client, hub.data_dir)
        yield client


def assert_nothing_stored(client: httpx.Client, data_dir: Path) -> None:
    assert client.get("/artifacts").json()["items"] == []
    for kept in ("sha256", "tmp", "index"):
        assert not list((data_dir / "artifacts" / kept).iterdir()), kept


HOSTILE: dict[str, tuple[Callable[[], bytes], str, str | None]] = {
    # Built when the test runs, not when the suite is collected: some take seconds.
    # The symbolic link stays inside where it stands; the hard link copies it (link(2)
    # does not follow it) to the top, two levels higher, where "../.." leaves.
    "hardlink-to-symlink": (
        lambda: packed([("d/e/s", SYM, "../../credential"), ("h", HARD, "d/e/s")]),
        "'h'",
        None,
    ),
    "file-replaces-link": (lambda: packed([("l", SYM, "."), ("l", FILE, "")]), "'l'", None),
    # "p" was judged while "q" led to r/s (so q/../.. is the top); a later "q" may not
    # change where it leads.
    "link-replaced-after-judged": (
        lambda: packed(
            [("r/s", DIR, ""), ("q", SYM, "r/s"), ("p", SYM, "q/../.."), ("q", DIR, "")]
        ),
        "'q/'",  # as the tarball spells it: tarfile writes directories with a "/"
        None,
    ),
    "newline-in-name": (lambda: packed([("run\n", FILE, "")]), "'run\\n'", None),
    "300-character-name": (lambda: packed([("n" * 300, FILE, "")]), "'nnnn", None),
    "bomb-256-mib": (lambda: bomb(256 * 1024 * 1024), "'zeros'", "ratio"),
    "50001-members": (lambda: many(50_001), "'f50000'", "members"),
}


@pytest.mark.parametrize(("data", "member", "limit"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_uploads_get_422_naming_the_member(
    client: httpx.Client,
    shared_hub: HubProcess,
    data: Callable[[], bytes],
    member: str,
    limit: str | None,
) -> None:
    answer = client.put("/artifacts/evil/1", content=data())
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["reason"], body["field"]) == ("Invalid", "body")
    assert f"member {member}" in body["message"]
    if limit:
        assert f"raise the hub's --artifact-limit {limit}=N" in body["message"]
    assert_nothing_stored(client, shared_hub.data_dir)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        # A control character anywhere in a path is refused before routing (400 path);
        # what gets past that reaches the name and version checks.
        ("/artifacts/demo%0A/1", "path"),
        ("/artifacts/demo%C2%A0/1", "name"),
        ("/artifacts/demo/1.0%D9%A3", "version"),
        ("/artifacts/demo%20/1/content", "name"),
    ],
    ids=["name-newline", "name-nbsp", "version-arabic-digit", "get-name-space"],
)
def test_artifact_names_and_versions_are_fully_matched(
    client: httpx.Client, shared_hub: HubProcess, path: str, field: str
) -> None:
    good = tarball(DEMO_SERVICE)
    answer = client.put(path, content=good) if "content" not in path else client.get(path)
    status = 400 if field == "path" else 422
    assert (answer.status_code, answer.json()["field"]) == (status, field), answer.text
    assert_nothing_stored(client, shared_hub.data_dir)


def test_an_artifact_is_sent_whole_whatever_its_range_header(tmp_path: Path) -> None:
    """Starlette answered a malformed Range in plain text (400, 416), not the hub's
    JSON; artifacts are fetched whole, so the header is ignored."""
    good = tarball(DEMO_SERVICE)
    with (
        running_hub(tmp_path / "hub") as hub,
        httpx.Client(base_url=f"{hub.url}{API}", headers=hub.headers(), timeout=60) as admin,
    ):
        assert admin.put("/artifacts/demo/1", content=good).status_code == 201
        for value in ("bytes=5-1", "bytes=x", "bytes=-0", "bytes=99999999999999999999-", "a"):
            answer = admin.get("/artifacts/demo/1/content", headers={"Range": value})
            assert answer.status_code == 200, (value, answer.status_code, answer.text[:200])
            assert answer.content == good


def test_the_limits_follow_the_hubs_flags(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    data.mkdir()
    flags = ["--artifact-limit", "unpacked-bytes=1048576", "--artifact-limit", "ratio=1000000"]
    with (
        running_hub(data, *flags) as hub,
        httpx.Client(base_url=f"{hub.url}{API}", headers=hub.headers(), verify=hub.verify) as c,
    ):
        answer = c.put("/artifacts/big/1", content=bomb(8 * 1024 * 1024))
        assert answer.status_code == 422, answer.text
        message = answer.json()["message"]
        assert "member 'zeros'" in message and "over the limit of 1048576" in message
        assert "--artifact-limit unpacked-bytes=N" in message
        small = packed([("f", FILE, "")])
        assert c.put("/artifacts/small/1", content=small).status_code == 201


def plant(hub_dir: Path, name: str, version: str, data: bytes) -> str:
    """Put an artifact straight into the hub's directory, as a hub that was broken
    into (or one from before these checks) would hold it; its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    (hub_dir / "artifacts" / "sha256" / sha).write_bytes(data)
    index = hub_dir / "artifacts" / "index" / name
    index.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "version": version, "sha256": sha, "size": len(data)}
    (index / f"{version}.json").write_text(json.dumps({**record, "created_at": time.time()}))
    return sha


def artifacts_dir(agent_dir: Path, sha: str) -> Path:
    """Where this agent unpacks artifacts: found by one it unpacked (``sha``)."""
    found = [p.parent for p in agent_dir.parent.rglob(sha) if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def reader(name: str, artifact: str, out: Path) -> dict[str, Any]:
    """An application that copies its artifact's ``h`` to ``out``, if it can."""
    copy = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(open('h').read())"
    process = {
        "command": sys.executable,
        "args": ["-c", copy, str(out)],
        "artifacts": [{"name": artifact, "version": "1"}],
        "restartPolicy": "Never",
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"workload": {"process": process}, "placement": {"mode": "EverySite"}},
    }


def test_an_artifact_that_got_past_the_hub_is_refused_by_the_agent(
    fleet: Fleet, tmp_path: Path
) -> None:
    good = fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
    fleet.ok("POST", "/applications", demo_app("web"))
    agent = fleet.add_agent("a")
    wait_for(lambda: fleet.running("web", {"a"}), "web running at a")
    unpacked = artifacts_dir(agent.data_dir, good["sha256"])

    # The symbolic link at depth k climbs k levels (inside where it stands); hard-linked
    # to the top it climbs k levels above the artifact, then down to the credential.
    credential = next(p for p in agent.data_dir.rglob("credential") if p.is_file())
    artifact_home = unpacked / ("0" * 64)
    up = len(artifact_home.relative_to(tmp_path).parts)
    deep = "/".join(f"d{i}" for i in range(up))
    target = "../" * up + credential.relative_to(tmp_path).as_posix()
    evil = packed([(f"{deep}/s", SYM, target), ("h", HARD, f"{deep}/s")])
    plant(fleet.hub_dir, "evil", "1", evil)
    out = tmp_path / "stolen"
    fleet.ok("POST", "/applications", reader("thief", "evil", out))

    def refused() -> dict[str, Any] | None:
        status = (fleet.assignments("thief").get("a") or {}).get("status") or {}
        return status if status.get("reason") == "ArtifactInvalid" else None

    status = wait_for(refused, "the thief's assignment to fail on its artifact")
    assert status["phase"] == "Failed"
    assert "artifact evil:1: refused: member 'h'" in status["message"], status
    assert "not a regular file" in status["message"]
    assert not out.exists()
    for path in unpacked.rglob("*"):  # nothing it unpacked points outside its own dir
        assert not path.is_symlink() or path.resolve().is_relative_to(unpacked)
    assert not any(unpacked.glob(f"*{hashlib.sha256(evil).hexdigest()}*"))
    assert agent.process is not None and agent.process.poll() is None
    assert fleet.running("web", {"a"}), "the agent kept running what it ran"
