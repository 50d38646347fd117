"""Artifacts through the hub's API: content-addressed, immutable, streamed under their
own size limit, and only tarballs that unpack inside their directory."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.hub.siteaccess import API, sqlite_admin_client, tarball

LIMIT = 4 * 1024 * 1024  # over the hub's 1 MiB body limit, which uploads are exempt from


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with sqlite_admin_client(tmp_path, max_artifact_bytes=LIMIT) as client:
        yield client


def special(kind: bytes, link: str = "", name: str = "x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        tar.addfile(info)
    return buffer.getvalue()


def random_tarball(size: int) -> bytes:
    """A tarball of about ``size`` bytes: random bytes do not compress."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("blob")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


async def test_artifacts_are_content_addressed_and_immutable(
    hub: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = tarball({"main.py": "print(1)"})
    first = await hub.put(f"{API}/artifacts/demo/1.0", content=data)
    assert first.status_code == 201
    record = first.json()
    assert set(record) == {"name", "version", "sha256", "size", "createdAt"}
    assert record["size"] == len(data) and len(record["sha256"]) == 64
    assert (tmp_path / "artifacts" / "sha256" / record["sha256"]).read_bytes() == data
    same = await hub.put(f"{API}/artifacts/demo/1.0", content=data)
    assert (same.status_code, same.json()) == (200, record)
    other = await hub.put(f"{API}/artifacts/demo/1.0", content=tarball({"main.py": "print(2)"}))
    assert (other.status_code, other.json()["reason"]) == (409, "AlreadyExists")
    assert other.json()["field"] == "version"
    assert (await hub.get(f"{API}/artifacts/demo/1.0")).json() == record
    content = await hub.get(f"{API}/artifacts/demo/1.0/content")
    assert content.content == data
    assert content.headers["x-content-sha256"] == record["sha256"]


async def test_the_list_is_sorted_and_equal_bytes_are_stored_once(
    hub: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = tarball({"a": "1"})
    for name, version in (("web", "2.0"), ("api", "1.0"), ("web", "1.0")):
        assert (await hub.put(f"{API}/artifacts/{name}/{version}", content=data)).is_success
    listed = (await hub.get(f"{API}/artifacts")).json()["items"]
    assert [(a["name"], a["version"]) for a in listed] == [
        ("api", "1.0"),
        ("web", "1.0"),
        ("web", "2.0"),
    ]
    assert len(list((tmp_path / "artifacts" / "sha256").iterdir())) == 1


async def test_an_upload_over_the_body_limit_streams_to_disk(hub: httpx.AsyncClient) -> None:
    data = random_tarball(3 * 1024 * 1024)
    answer = await hub.put(f"{API}/artifacts/big/1", content=data)
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == len(data)


async def test_an_upload_streamed_past_the_limit_is_cut(
    hub: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = random_tarball(LIMIT + 65536)  # a good tarball until the limit cuts it

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(data), 65536):
            yield data[at : at + 65536]

    answer = await hub.put(f"{API}/artifacts/big/1", content=chunks())
    assert (answer.status_code, answer.json()["reason"]) == (413, "RequestEntityTooLarge")
    assert "--max-artifact-bytes" in answer.json()["message"]
    assert not list((tmp_path / "artifacts" / "tmp").iterdir())


async def test_unknown_artifacts_are_404(hub: httpx.AsyncClient) -> None:
    for path in ("/artifacts/nope/1", "/artifacts/nope/1/content"):
        answer = await hub.get(f"{API}{path}")
        assert (answer.status_code, answer.json()["field"]) == (404, "name")


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "needle"),
    [
        ("/artifacts/demo/1", b"not a tarball", 422, "body", "not a gzip tarball"),
        ("/artifacts/demo/1", tarball({"a": "1"}, "../"), 422, "body", "'..'"),
        ("/artifacts/demo/1", tarball({"/etc/x": "1"}), 422, "body", "absolute path"),
        ("/artifacts/demo/1", special(tarfile.SYMTYPE, "/etc/passwd"), 422, "body", "links out"),
        ("/artifacts/demo/1", special(tarfile.LNKTYPE, "../../x"), 422, "body", "links out"),
        ("/artifacts/demo/1", special(tarfile.CHRTYPE), 422, "body", "device"),
        ("/artifacts/demo/1", special(tarfile.FIFOTYPE), 422, "body", "fifo"),
        ("/artifacts/demo/1", b"x" * (LIMIT + 1), 413, None, "over the limit"),
        ("/artifacts/Bad_Name/1", tarball({"a": "1"}), 422, "name", "name 'Bad_Name'"),
        ("/artifacts/demo/-1", tarball({"a": "1"}), 422, "version", "version '-1'"),
    ],
    ids=[
        "garbage",
        "dot-dot",
        "absolute",
        "symlink-out",
        "hardlink-out",
        "device",
        "fifo",
        "too-large",
        "bad-name",
        "bad-version",
    ],
)
async def test_bad_artifacts_are_refused_and_nothing_is_kept(
    hub: httpx.AsyncClient,
    tmp_path: Path,
    path: str,
    body: bytes,
    status: int,
    field: str | None,
    needle: str,
) -> None:
    answer = await hub.put(f"{API}{path}", content=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert needle in answer.json()["message"]
    assert (await hub.get(f"{API}/artifacts")).json()["items"] == []
    for kept in ("sha256", "tmp", "index"):
        assert not list((tmp_path / "artifacts" / kept).iterdir()), kept
