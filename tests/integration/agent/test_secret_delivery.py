"""Issue 19: a Secret reaches only the sites whose assignments use it, over the site's
own channel, is kept sealed there and is given to the workload as environment and files.

A real hub and two real agents (process runtime): the application runs at site ``a``
only; its workload writes what it was given to a file the test reads.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from edgeplane.agent.credentials import CREDENTIAL_FILE
from tests.support.fleet import API, Fleet, wait_for

VALUE = "hunter2-only-for-a"
SCRIPT = (
    "import os, pathlib, sys, time\n"
    "d = os.environ.get('EDGEPLANE_SECRETS_DIR', '')\n"
    "f = pathlib.Path(d, 'db', 'password').read_text() if d else ''\n"
    "pathlib.Path(sys.argv[1]).write_text(os.environ.get('DB_PASSWORD', '') + '|' + f)\n"
    "time.sleep(3600)\n"
)


def secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": value},
    }


def application(out: Path) -> dict[str, Any]:
    process = {
        "command": sys.executable,
        "args": ["-c", SCRIPT, str(out)],
        "secrets": [{"name": "db", "env": True, "envPrefix": "DB_", "files": True}],
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "uses-db"},
        "spec": {
            "workload": {"process": process},
            "placement": {"mode": "EverySite", "selector": {"matchLabels": {"runs": "db"}}},
        },
    }


def site_get(fleet: Fleet, site: str, path: str, token_of: str | None = None) -> httpx.Response:
    token = (fleet.root / "sites" / (token_of or site) / CREDENTIAL_FILE).read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{fleet.url}{API}{path}", headers=headers, timeout=10)


def every_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def workload_pid(fleet: Fleet, site: str) -> int:
    records = fleet.root / "sites" / site / "runtime" / "process" / "instances"
    (record,) = records.glob("*.json")
    return int(json.loads(record.read_text())["pid"])


def test_a_secret_reaches_only_the_site_that_runs_what_uses_it(fleet: Fleet) -> None:
    fleet.ok("POST", "/secrets", secret(VALUE))
    fleet.add_agent("a", {"runs": "db"})
    fleet.add_agent("b", {"runs": "other"})
    wait_for(lambda: fleet.site_phase("a") == fleet.site_phase("b") == "Online", "online")
    out = fleet.root / "given.txt"
    fleet.ok("POST", "/applications", application(out))

    # The workload at a got the value both ways.
    assert wait_for(lambda: out.exists() and out.read_text(), "the workload's report") == (
        f"{VALUE}|{VALUE}"
    )
    files = list((fleet.root / "sites" / "a-workloads" / "secrets").rglob("password"))
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == "0o400", files

    # Kept sealed at a: the value is in no file of its data dir (the runtime's record of
    # the instance included); b has nothing of it.
    assert (fleet.root / "sites" / "a" / "secrets" / "db.sealed").exists()
    assert VALUE.encode() not in every_byte(fleet.root / "sites" / "a")
    assert not (fleet.root / "sites" / "b" / "secrets").exists()
    assert VALUE.encode() not in every_byte(fleet.root / "sites" / "b")

    # Only a's credential reads it, only for a: b (own path or a's), admins refused.
    assert site_get(fleet, "a", "/sites/a/secrets/db").json()["data"]["password"]
    for token_of, path in (("b", "/sites/b/secrets/db"), ("b", "/sites/a/secrets/db")):
        answer = site_get(fleet, token_of, path, token_of)
        assert answer.status_code == 403, answer.text
        assert VALUE not in answer.text
    admin = fleet.api("GET", "/sites/a/secrets/db")
    assert admin.status_code == 403 and "admins included" in admin.json()["message"]
    viewer = fleet.ok("POST", "/tokens", {"subject": "vera", "role": "viewer"})["token"]
    refused = httpx.get(
        f"{fleet.url}{API}/sites/a/secrets/db",
        headers={"Authorization": f"Bearer {viewer}"},
        timeout=10,
    )
    assert refused.status_code == 403 and "no user does" in refused.json()["message"]
    # a, for a Secret none of its assignments names: refused as well.
    fleet.ok("POST", "/secrets", {**secret("x"), "metadata": {"name": "other"}})
    assert site_get(fleet, "a", "/sites/a/secrets/other").status_code == 403

    # The reads are in the audit log; the value is in no log, and in no answer about
    # the application, its assignments or the Secret.
    log = (fleet.hub_dir / "audit.log").read_text()
    reads = [
        (e["subject"], e["role"], e["status"])
        for e in map(json.loads, log.splitlines())
        if e["method"] == "GET" and e["path"] == f"{API}/sites/a/secrets/db"
    ]
    assert ("a", "site", 200) in reads, reads  # allowed reads too, not only refusals
    assert VALUE not in log
    for other in (fleet.root / "hub.log", fleet.root / "sites" / "a.agent.log"):
        assert VALUE not in other.read_text(), other
    for path in ("/applications/uses-db", "/assignments", "/secrets/db", "/sites/a"):
        assert VALUE not in fleet.api("GET", path).text, path

    # Offline: the hub down, the agent restarted, the workload killed: it starts again
    # with the Secret, from the copy kept sealed at the site.
    fleet.stop_hub()
    fleet.agents["a"].stop()
    fleet.agents["a"].start()
    out.unlink()
    os.kill(workload_pid(fleet, "a"), signal.SIGKILL)
    assert wait_for(lambda: out.exists() and out.read_text(), "the restarted workload") == (
        f"{VALUE}|{VALUE}"
    )
    assert VALUE.encode() not in every_byte(fleet.root / "sites" / "a")
    fleet.start_hub()

    # The application gone, a's files go with it.
    fleet.ok("DELETE", "/applications/uses-db")
    wait_for(lambda: not files[0].exists(), "the Secret's files removed")
