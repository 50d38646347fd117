"""The Secrets a site's workloads use (``spec.workload.process.secrets``): fetched from
the hub over the site's own channel (``GET /sites/{site}/secrets/{name}``, which only
this site's credential may read, and only for a Secret its assignments name), kept
sealed on disk and given to each instance as environment or files.

* At rest: ``<data-dir>/secrets/<name>.sealed``, AES-256-GCM under the agent's own key
  (``<data-dir>/secrets/key``, 0600, made on first use; the Secret's name is the
  associated data, so a file renamed to another Secret's name does not open). The copy
  lets a workload start again while the hub is unreachable (the site keeps running
  offline); it is replaced whenever the hub answers.
* Environment: each key as ``envPrefix`` + the key (``api.secretkeys.secret_env_name``);
  the workload's own ``env`` wins.
* Files: ``<workload-dir>/secrets/<assignment>/<secret>/<key>`` (directories 0700,
  files 0400, owned by the workload's ``runAs`` account when the agent runs as root),
  named in ``$EDGEPLANE_SECRETS_DIR``; removed when the site no longer holds the
  assignment (``keep_only``).

The hub is asked once for each assignment's generation: a Secret's new version reaches
the instances when their assignment changes (a new revision of the Application) or
the agent starts again, as Kubernetes gives a Secret to a container's environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeplane.agent.errors import AgentError, HubRefused, HubUnreachable
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.layout import open_private, private_dir, shared_dir
from edgeplane.agent.runtimes.process.accounts import RunAsError, resolve_run_as
from edgeplane.agent.runtimes.process.records import write_atomically
from edgeplane.api.secretkeys import MAX_KEYS, MAX_TOTAL_BYTES, check_secret_key, secret_env_name
from edgeplane.api.wire import Object

log = logging.getLogger("edgeplane.agent.secrets")
API = "/api/v1alpha1"
SECRETS_DIR_ENV = "EDGEPLANE_SECRETS_DIR"
KEY_FILE = "key"
NONCE_BYTES = 12


class SecretProblem(AgentError):
    """Why an instance cannot be given its Secrets: ``failed`` (the hub refused) or
    pending (unreachable, and no copy kept yet)."""

    def __init__(self, reason: str, message: str, failed: bool) -> None:
        super().__init__(message)
        self.reason, self.failed = reason, failed


class SecretKeeper:
    def __init__(self, sealed_dir: Path, files_dir: Path, link: HubLink, site: str) -> None:
        self.sealed_dir, self.files_dir, self.link, self.site = sealed_dir, files_dir, link, site
        self._key: bytes | None = None
        self._given: dict[str, tuple[object, dict[str, str]]] = {}
        """Assignment -> (its uid and generation, what it was given): the hub is asked
        once for each, not at every pass of the reconciler."""

    async def environment(self, assignment: str, obj: Object) -> dict[str, str]:
        """What the assignment's instances are given: its Secrets' variables, and the
        directory of their files. SecretProblem when one cannot be had."""
        process = obj["spec"].get("workload", {}).get("process") or {}
        uses = process.get("secrets") or []
        env: dict[str, str] = {}
        if not uses:
            return env
        meta = obj["metadata"]
        version = (meta.get("uid"), meta.get("generation"))
        given = self._given.get(assignment)
        if given is not None and given[0] == version:
            return given[1]
        files = self.files_dir / _safe(assignment)
        for use in uses:
            name = str(use["name"])
            values = await self.values(name)
            if use.get("env"):
                prefix = str(use.get("envPrefix") or "")
                env.update(
                    {secret_env_name(prefix, k): _text(name, k, v) for k, v in values.items()}
                )
            if use.get("files"):
                self._write_files(files, name, values, process.get("runAs"))
                env[SECRETS_DIR_ENV] = str(files)
        if files.is_dir():  # a Secret the assignment no longer names leaves no files
            named = {str(u["name"]) for u in uses if u.get("files")}
            for gone in [p for p in files.iterdir() if p.name not in named]:
                shutil.rmtree(gone, ignore_errors=True)
        self._given[assignment] = (version, env)
        return env

    async def values(self, name: str) -> dict[str, bytes]:
        """The Secret's values: from the hub, else the sealed copy kept here."""
        try:
            answer = await self.link.call("GET", f"{API}/sites/{self.site}/secrets/{name}")
            values = _decoded(answer, name)
        except HubUnreachable as e:
            kept = self._read(name)
            if kept is None:
                raise SecretProblem(
                    "SecretUnavailable", f"Secret {name}: {e}; retrying", failed=False
                ) from None
            return kept
        except HubRefused as e:
            self._forget(name)
            raise SecretProblem(
                "SecretRefused", f"Secret {name}: {e.message}", failed=e.status != 409
            ) from None
        self._keep(name, values)
        return values

    def keep_only(self, assignments: Iterable[str]) -> None:
        """Remove the files of assignments the site no longer holds."""
        held = set(assignments)  # compared with directory entries, never joined to a path
        self._given = {a: given for a, given in self._given.items() if a in held}
        if not self.files_dir.is_dir():
            return
        for path in self.files_dir.iterdir():
            if path.name not in held:
                shutil.rmtree(path, ignore_errors=True)

    def _keep(self, name: str, values: Mapping[str, bytes]) -> None:
        plain = json.dumps({k: base64.b64encode(v).decode() for k, v in values.items()})
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._own_key()).encrypt(nonce, plain.encode(), name.encode())
        write_atomically(self._sealed_path(name), nonce + sealed)

    def _read(self, name: str) -> dict[str, bytes] | None:
        try:
            blob = self._sealed_path(name).read_bytes()
            plain = AESGCM(self._own_key()).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], name.encode()
            )
            return {k: base64.b64decode(v) for k, v in json.loads(plain).items()}
        except FileNotFoundError:
            return None
        except (OSError, InvalidTag, ValueError) as e:
            log.warning("the kept copy of Secret %s is unreadable (%s): ignored", name, e)
            return None

    def _forget(self, name: str) -> None:
        self._sealed_path(name).unlink(missing_ok=True)

    def _sealed_path(self, name: str) -> Path:
        return private_dir(self.sealed_dir) / f"{_safe(name)}.sealed"

    def _own_key(self) -> bytes:
        if self._key is None:
            path = private_dir(self.sealed_dir) / KEY_FILE
            try:
                key = path.read_bytes()
            except FileNotFoundError:
                key = AESGCM.generate_key(bit_length=256)
                write_atomically(path, key)
            if len(key) != 32:
                raise SecretProblem(
                    "SecretKeyInvalid", f"{path} is not a 32-byte key: remove it", failed=True
                )
            self._key = key
        return self._key

    def _write_files(self, root: Path, name: str, values: Mapping[str, bytes], run_as: Any) -> None:
        try:
            owner = resolve_run_as(run_as)
        except RunAsError as e:
            raise SecretProblem("SecretFilesFailed", str(e), failed=True) from None
        shared_dir(self.files_dir)  # others pass through to their own, as into work/
        folder = private_dir(root / _safe(name))
        for old in folder.iterdir():
            old.unlink()  # written afresh: a 0400 file does not open for writing again
        for key, value in values.items():
            fd = open_private(folder / key, os.O_WRONLY | os.O_EXCL)
            with os.fdopen(fd, "wb") as out:
                out.write(value)
                out.flush()
                os.fchmod(fd, 0o400)
                if owner is not None:
                    os.fchown(fd, owner.uid, owner.gid)
        if owner is not None:
            for directory in (root, folder):
                os.chown(directory, owner.uid, owner.gid)


def _text(secret: str, key: str, value: bytes) -> str:
    """A value given as a variable: UTF-8 text without NUL (exec passes nothing else)."""
    try:
        text = value.decode()
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise SecretProblem(
            "SecretNotText",
            f"Secret {secret}: key {key} is not text an environment can hold (UTF-8, no "
            "NUL): give it with files: true",
            failed=True,
        )
    return text


def _safe(name: str) -> str:
    """A name as one path component (the API's names already are; this holds anyway)."""
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise SecretProblem("SecretNameInvalid", f"{name[:80]!r} is not a name", failed=True)
    return name


def _decoded(answer: Any, name: str) -> dict[str, bytes]:
    """The hub's answer's values, each key checked as the API checks it."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or len(data) > MAX_KEYS:
        raise HubUnreachable(f"the hub's answer for Secret {name} has no data")
    values: dict[str, bytes] = {}
    try:
        for key, value in data.items():
            if check_secret_key(str(key)) or not isinstance(value, str):
                raise ValueError(key)
            values[key] = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HubUnreachable(f"the hub's answer for Secret {name} is malformed") from None
    if sum(map(len, values.values())) > MAX_TOTAL_BYTES:
        raise HubUnreachable(f"the hub's answer for Secret {name} is too large")
    return values
