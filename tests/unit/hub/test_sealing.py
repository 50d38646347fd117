"""The hub's keyring (``hub.sealing``): values seal and open, bound to their Secret and
row; a rotated keyring opens old rows; another hub's rotation is read from the shared
file; a damaged keyring or row is an error that says so."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from edgeplane.hub.sealing import Keyring, SealingError

VALUES = {"password": b"hunter2", "cert": bytes(range(256))}


def test_values_seal_and_open(tmp_path: Path) -> None:
    ring = Keyring.load(tmp_path / "keys.json")
    row = ring.seal("db", VALUES)
    assert b"hunter2" not in row.ciphertext and row.key_id == ring.primary
    assert ring.unseal(row) == VALUES
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    again = ring.seal("db", VALUES)
    assert again.nonce != row.nonce and again.ciphertext != row.ciphertext


def test_a_row_moved_to_another_secret_or_id_does_not_open(tmp_path: Path) -> None:
    ring = Keyring.load(tmp_path / "keys.json")
    row = ring.seal("db", VALUES)
    for moved in (dataclasses.replace(row, name="web"), dataclasses.replace(row, id="f" * 32)):
        with pytest.raises(SealingError, match="do not open"):
            ring.unseal(moved)
    flipped = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
    with pytest.raises(SealingError, match="do not open"):
        ring.unseal(dataclasses.replace(row, ciphertext=flipped))


def test_rotation_keeps_old_rows_readable_and_another_hub_follows(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ours, theirs = Keyring.load(path), Keyring.load(path)
    old = ours.seal("db", VALUES)
    first = ours.primary
    assert ours.add_key() != first
    new = ours.seal("db", {"password": b"next"})
    assert ours.unseal(old) == VALUES
    assert theirs.unseal(new) == {"password": b"next"}, "the other hub read the file again"
    assert set(json.loads(path.read_text())["keys"]) == {first, ours.primary}


def test_a_missing_key_or_damaged_keyring_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = Keyring.load(path)
    row = dataclasses.replace(ring.seal("db", VALUES), key_id="k-gone")
    with pytest.raises(SealingError, match="does not hold"):
        ring.unseal(row)
    path.write_text("{not json")
    with pytest.raises(SealingError, match="restore it from a backup"):
        Keyring.load(path)
    path.write_text(json.dumps({"primary": "a", "keys": {"a": "c2hvcnQ="}}))
    with pytest.raises(SealingError, match="not 32 bytes"):
        Keyring.load(path)
