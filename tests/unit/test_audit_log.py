"""The audit log's hash chain (``edgeplane.audit``): appended entries verify; a changed,
deleted or inserted entry is named by its line; a restart chains on from the file."""

from __future__ import annotations

import json
from pathlib import Path

from edgeplane.audit import GENESIS, MAX_LINE_BYTES, AuditLog, entry_hash, verify


def _written(path: Path, count: int) -> AuditLog:
    log = AuditLog(path)
    for n in range(count):
        log.append({"subject": f"user-{n}", "method": "POST", "path": f"/x/{n}", "status": 201})
    return log


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_whole_chain_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = _written(path, 5)
    verdict = verify(path)
    assert (verdict.problem, verdict.entries) == (None, 5)
    assert verdict.head == log.head
    first = json.loads(_lines(path)[0])
    assert (first["seq"], first["prev"], first["hash"]) == (1, GENESIS, entry_hash(first))
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_changed_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _written(path, 5).close()
    lines = _lines(path)
    lines[2] = lines[2].replace("user-2", "nobody")
    path.write_text("\n".join(lines) + "\n")
    verdict = verify(path)
    assert (verdict.line, verdict.entries) == (3, 2)
    assert verdict.problem == "entry 3 was changed"


def test_a_changed_entry_with_its_hash_made_again_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _written(path, 4).close()
    lines = _lines(path)
    entry = json.loads(lines[1])
    entry["status"] = 403
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    verdict = verify(path)
    assert verdict.line == 3 and "does not follow entry 2" in str(verdict.problem)


def test_a_deleted_entry_is_found_where_the_chain_breaks(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _written(path, 5).close()
    lines = _lines(path)
    del lines[1]
    path.write_text("\n".join(lines) + "\n")
    verdict = verify(path)
    assert verdict.line == 2 and "entry 3 does not follow entry 1" in str(verdict.problem)


def test_a_restarted_log_chains_on_past_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _written(path, 3).close()
    again = AuditLog(path)
    assert again.head.seq == 3
    again.append({"subject": "after-restart"})
    assert verify(path).entries == 4
    with path.open("a") as file:
        file.write('{"seq": 5, "torn')  # a full disk cut the last write short
    assert "not JSON" in str(verify(path).problem)
    reopened = AuditLog(path)
    assert reopened.head.seq == 4
    reopened.append({"subject": "next"})
    assert (verify(path).problem, verify(path).entries) == (None, 5)


def test_a_line_longer_than_any_entry_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("x" * (MAX_LINE_BYTES * 4) + "\n")
    verdict = verify(path)
    assert (verdict.line, verdict.entries) == (1, 0)
    assert "longer" in str(verdict.problem)
