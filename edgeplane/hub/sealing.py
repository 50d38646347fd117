"""Secrets at rest: AES-256-GCM under the hub's keyring, a key id on every row so that
keys can be rotated.

The keyring is a JSON file, ``{"primary": ID, "keys": {ID: base64 of 32 bytes}}``,
0600: ``<data-dir>/secret-keys.json`` (made on first start) or ``--secret-keys FILE``,
which hubs sharing one database must share too. A row names the key that sealed it; a
row under a key this hub does not hold makes it read the file again (another hub
rotated). Each seal has a fresh 96-bit nonce, and the Secret's name and the row's id as
associated data: a row copied under another Secret, or a ciphertext moved to another
row, fails to open.

Rotation (``POST /api/v1alpha1/secrets/rotate-key``, admin): a new primary key is added
to the file, every row is sealed again under it (in pages), and the old keys stay in
the file until an operator removes them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeplane.store.protocol import SealedValues

KEYRING_FILE = "secret-keys.json"
MAX_KEYS = 64


class SealingError(Exception):
    """A keyring that cannot be read, or a row that does not open: the message says
    which and what to do."""


@dataclass
class Keyring:
    path: Path
    primary: str
    keys: dict[str, bytes]

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read the keyring; make one with a first key when there is no file."""
        if not path.exists():
            ring = cls(path, "", {})
            ring.add_key()
            return ring
        try:
            data = json.loads(path.read_bytes())
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            primary = str(data["primary"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise SealingError(f"{path}: not a keyring ({e}): restore it from a backup") from e
        if primary not in keys or any(len(k) != 32 for k in keys.values()):
            raise SealingError(f"{path}: the primary key is missing or a key is not 32 bytes")
        return cls(path, primary, keys)

    def add_key(self) -> str:
        """A new primary key, written to the file (atomically, 0600) before it is used."""
        if len(self.keys) >= MAX_KEYS:
            raise SealingError(
                f"{self.path} holds {MAX_KEYS} keys: remove old ones no row uses "
                "(every row is sealed under the primary after a rotation)"
            )
        key_id = f"k{int(time.time())}-{secrets.token_hex(3)}"
        keys = {**self.keys, key_id: AESGCM.generate_key(bit_length=256)}
        _write_private(self.path, _dumps(key_id, keys))
        self.primary, self.keys = key_id, keys
        return key_id

    def reload(self) -> None:
        fresh = Keyring.load(self.path)
        self.primary, self.keys = fresh.primary, fresh.keys

    def seal(self, name: str, values: dict[str, bytes], sealed_id: str = "") -> SealedValues:
        """``values`` encrypted under the primary key, as a new row (or ``sealed_id``)."""
        sealed_id = sealed_id or secrets.token_hex(16)
        nonce = os.urandom(12)
        plain = json.dumps({k: base64.b64encode(v).decode() for k, v in values.items()})
        ciphertext = AESGCM(self.keys[self.primary]).encrypt(
            nonce, plain.encode(), _associated(name, sealed_id)
        )
        return SealedValues(sealed_id, name, self.primary, nonce, ciphertext, time.time())

    def unseal(self, row: SealedValues) -> dict[str, bytes]:
        if row.key_id not in self.keys:
            self.reload()  # another hub rotated: its new key is in the shared file
        key = self.keys.get(row.key_id)
        if key is None:
            raise SealingError(
                f"the values of Secret {row.name!r} are sealed under key {row.key_id!r}, "
                f"which {self.path} does not hold: restore the keyring that has it"
            )
        try:
            plain = AESGCM(key).decrypt(row.nonce, row.ciphertext, _associated(row.name, row.id))
        except InvalidTag as e:
            raise SealingError(f"the values of Secret {row.name!r} do not open: changed") from e
        return {k: base64.b64decode(v) for k, v in json.loads(plain).items()}


def _associated(name: str, sealed_id: str) -> bytes:
    return f"edgeplane-secret\x00{name}\x00{sealed_id}".encode()


def _dumps(primary: str, keys: dict[str, bytes]) -> bytes:
    encoded = {k: base64.b64encode(v).decode() for k, v in keys.items()}
    return json.dumps({"primary": primary, "keys": encoded}, indent=2).encode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
