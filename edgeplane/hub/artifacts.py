"""Artifacts: the code a process workload runs, as content-addressed tarballs.

Bytes live at ``<data-dir>/artifacts/sha256/<hex>``, metadata at
``<data-dir>/artifacts/index/<name>/<version>.json``. Uploads stream to disk under their
own size limit, are hashed on the way, and are checked while they arrive against the
artifact rules and limits (``hub.tarballs``): a refused upload is never stored, and a
bomb is refused at the member that breaks a limit, not after it was unpacked. A name
and version, once stored, never change.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.api.artifacts.names import name_problem, version_problem
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse
from edgeplane.hub.tarballs import UploadCheck

router = APIRouter(prefix="/api/v1alpha1")


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    version: str
    sha256: str
    size: int
    created_at: float

    def wire(self) -> dict[str, Any]:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "createdAt": created,
        }


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("sha256", "index", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def blob(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def _index(self, name: str, version: str) -> Path:
        return self.root / "index" / name / f"{version}.json"

    def lookup(self, name: str, version: str) -> ArtifactRecord | None:
        try:
            return ArtifactRecord(**json.loads(self._index(name, version).read_text()))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def records(self) -> list[ArtifactRecord]:
        found = [
            ArtifactRecord(**json.loads(p.read_text()))
            for p in (self.root / "index").glob("*/*.json")
        ]
        return sorted(found, key=lambda r: (r.name, r.version))

    async def put(
        self,
        name: str,
        version: str,
        chunks: AsyncIterator[bytes],
        limit: int,
        limits: ArtifactLimits,
    ) -> tuple[ArtifactRecord, bool]:
        """Store the upload; the record, and False when the same bytes were there."""
        tmp, sha256, size = await self._receive(chunks, limit, UploadCheck(limits))
        try:
            record = ArtifactRecord(name, version, sha256, size, time.time())
            return self._commit(tmp, record)
        finally:
            if os.path.exists(tmp):  # noqa: ASYNC240 - one stat, no wait worth a thread
                os.unlink(tmp)

    async def _receive(
        self, chunks: AsyncIterator[bytes], limit: int, check: UploadCheck
    ) -> tuple[Path, str, int]:
        digest, size = hashlib.sha256(), 0
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(
                            413,
                            "RequestEntityTooLarge",
                            f"the artifact is over the limit of {limit} bytes: make it smaller "
                            "or raise the hub's --max-artifact-bytes",
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    await check.feed(chunk)
                await check.finish()
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp, digest.hexdigest(), size

    def _commit(self, tmp: Path, record: ArtifactRecord) -> tuple[ArtifactRecord, bool]:
        blob = self.blob(record.sha256)
        if not blob.exists():
            os.replace(tmp, blob)
        index = self._index(record.name, record.version)
        index.parent.mkdir(parents=True, exist_ok=True)
        staged = index.with_name(f".{index.name}.{os.getpid()}.{id(record)}")
        _write_synced(staged, json.dumps(asdict(record)).encode())
        try:
            os.link(staged, index)  # fails when the version exists: versions never change
        except FileExistsError:
            existing = self.lookup(record.name, record.version)
            assert existing is not None
            if existing.sha256 != record.sha256:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f"artifact {record.name}:{record.version} holds other bytes "
                    f"(sha256 {existing.sha256[:12]}…): versions never change, push a new "
                    "--version",
                    "version",
                ) from None
            return existing, False
        finally:
            staged.unlink(missing_ok=True)
        return record, True


def _write_synced(path: Path, data: bytes) -> None:
    # Synced before it is linked into place: a crash never leaves an empty record.
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _artifacts(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifacts
    return store


def _checked(name: str, version: str) -> None:
    if problem := name_problem(name):
        raise ApiError(422, "Invalid", problem, "name")
    if problem := version_problem(version):
        raise ApiError(422, "Invalid", problem, "version")


def _found(request: Request, name: str, version: str) -> ArtifactRecord:
    _checked(name, version)  # the names become file paths: never look up a bad one
    record = _artifacts(request).lookup(name, version)
    if record is None:
        raise ApiError(404, "NotFound", f"no artifact {name}:{version}: push it first", "name")
    return record


@router.put("/artifacts/{name}/{version}", response_model=None)
async def push(request: Request, name: str, version: str) -> Response:
    _checked(name, version)
    limit = request.app.state.settings.max_artifact_bytes
    declared = request.headers.get("content-length", "")
    # isdigit alone takes '²' (a latin-1 header byte), which int() then refuses: a 500.
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"the artifact is over the limit of {limit} bytes: make it smaller or raise "
            "the hub's --max-artifact-bytes",
        )
    limits = request.app.state.settings.artifact_limits
    record, created = await _artifacts(request).put(name, version, request.stream(), limit, limits)
    return ObjectResponse(record.wire(), status_code=201 if created else 200)


@router.get("/artifacts", response_model=None)
async def list_artifacts(request: Request) -> Response:
    return ObjectResponse({"items": [r.wire() for r in _artifacts(request).records()]})


@router.get("/artifacts/{name}/{version}", response_model=None)
async def get_artifact(request: Request, name: str, version: str) -> Response:
    return ObjectResponse(_found(request, name, version).wire())


@router.get("/artifacts/{name}/{version}/content", response_model=None)
async def content(request: Request, name: str, version: str) -> Response:
    record = _found(request, name, version)
    # Sent whole (the agent checks the sha256 of all of it): a Range header is ignored,
    # as HTTP allows, instead of Starlette's plain-text 400/416 for a malformed one.
    request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
    return FileResponse(
        _artifacts(request).blob(record.sha256),
        media_type="application/gzip",
        headers={"X-Content-Sha256": record.sha256},
    )
