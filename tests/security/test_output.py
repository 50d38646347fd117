"""Class 8 (output) and the YAML bombs of class 9: what a hostile site, workload or file
can make the operator's ``edgeplane`` print, or cost it.

A real hub, a real site credential (joined as an agent would) writing hostile status
and log text, and the real ``edgeplane`` command run as a subprocess: its output holds
no raw control character (no OSC 52 clipboard write, no colours, no forged table rows),
``-o json`` and ``-o yaml`` still give back the exact text, a policy warning with CR/LF
does not cost a committed write its answer, names cannot change the URL the CLI asks
for, and a billion-laughs ``apply`` is refused within a memory bound.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.fleet import DEMO_SERVICE, demo_app, tarball, wait_for
from tests.support.hub import HubProcess

API = "/api/v1alpha1"
OSC52 = "\x1b]52;c;ZWNobyBvd25lZA==\x07"  # "set the clipboard to 'echo owned'"
FAKE_ROW = "\r\nshop-2   Online   fake-row"
HOSTILE = f"ok{OSC52}{FAKE_ROW}\x1b[31mred\x1b[0m\u202eevil\x9b2J"
# What must never reach a terminal raw (tab and newline are layout, checked apart).
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
CLI_SECONDS = 60.0
MEMORY_BOUND = 1 << 30


def edgeplane(
    hub: HubProcess, tmp: Path, *args: str, **run: Any
) -> subprocess.CompletedProcess[str]:
    """The real CLI, in its own process, pointed at ``hub``."""
    env = {
        **os.environ,
        "EDGEPLANE_SERVER": hub.url,
        "EDGEPLANE_TOKEN": hub.token,
        "EDGEPLANE_CONFIG": str(tmp / "config.yaml"),
    }
    command = [sys.executable, "-c", "from edgeplane.main import main; main()", *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=CLI_SECONDS, **run
    )


def assert_terminal_safe(result: subprocess.CompletedProcess[str]) -> None:
    for stream in (result.stdout, result.stderr):
        assert not RAW.findall(stream), stream


class Site:
    """A site as its agent talks to the hub: with its own credential, and nothing else."""

    def __init__(self, hub: HubProcess, name: str) -> None:
        self.hub, self.name = hub, name
        token = self._admin("POST", "/jointokens", {"ttlSeconds": 600}).json()["token"]
        joined = httpx.post(f"{hub.url}{API}/join", json={"token": token, "site": name})
        assert joined.status_code == 201, joined.text
        self.headers = {"Authorization": f"Bearer {joined.json()['credential']}"}

    def _admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        answer = httpx.request(
            method, f"{self.hub.url}{API}{path}", json=body, headers=self.hub.headers()
        )
        assert answer.status_code < 300, answer.text
        return answer

    def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> None:
        answer = httpx.patch(
            f"{self.hub.url}{API}/{plural}/{name}/status",
            content=json.dumps({"status": status}),
            headers={**self.headers, "Content-Type": "application/merge-patch+json"},
        )
        assert answer.status_code == 200, answer.text

    def answer_one_request(self, text: str) -> None:
        """Poll for the hub's next request (a log relay) and answer it with ``text``."""

        def polled() -> dict[str, Any] | None:
            url = f"{self.hub.url}{API}/sites/{self.name}/requests"
            answer = httpx.get(url, params={"waitSeconds": 5}, headers=self.headers, timeout=10)
            items = answer.json()["items"]
            return items[0] if items else None

        request = wait_for(polled, "the log request relayed to the site")
        url = f"{self.hub.url}{API}/sites/{self.name}/requests/{request['id']}"
        answer = httpx.post(
            url, content=text, headers={**self.headers, "Content-Type": "text/plain"}
        )
        assert answer.status_code == 204, answer.text


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def hostile_site(hub: HubProcess) -> tuple[Site, str]:
    """A site ``shop-1`` whose status and whose assignment of ``web`` hold hostile text;
    the assignment's name."""
    site = Site(hub, "shop-1")
    room = {"cpu": "4", "memory": "8Gi"}
    site.patch_status(
        "sites",
        "shop-1",
        {
            "phase": "Online",
            "lastHeartbeat": now(),
            "capacity": room,
            "allocatable": room,
            "inventory": {"runtime": "process"},
            "conditions": [{"type": "Ready", "status": "True", "message": HOSTILE}],
        },
    )
    pushed = httpx.put(
        f"{hub.url}{API}/artifacts/demo-service/1.0.0",
        content=tarball(DEMO_SERVICE),
        headers={**hub.headers(), "Content-Type": "application/gzip"},
    )
    assert pushed.status_code in (200, 201), pushed.text
    site._admin("POST", "/applications", demo_app("web"))

    def assigned() -> str | None:
        items = site._admin("GET", "/assignments").json()["items"]
        return next((a["metadata"]["name"] for a in items if a["spec"]["site"] == "shop-1"), None)

    name = wait_for(assigned, "web's assignment at shop-1")
    site.patch_status("assignments", name, {"phase": "Failed", "message": HOSTILE})
    return site, name


def test_hostile_status_is_escaped_wherever_it_is_printed(
    hub: HubProcess, hostile_site: tuple[Site, str], tmp_path: Path
) -> None:
    _, assignment = hostile_site
    listing = edgeplane(hub, tmp_path, "get", "assignments", "-o", "wide")
    assert listing.returncode == 0, listing.stderr
    assert_terminal_safe(listing)
    _header, *rows = listing.stdout.splitlines()
    assert len(rows) == 1, listing.stdout  # CR/LF forged no row
    assert "\\x1b]52;c;" in rows[0] and "\\r\\nshop-2" in rows[0]
    for args in (("describe", "site", "shop-1"), ("describe", "assignment", assignment)):
        shown = edgeplane(hub, tmp_path, *args)
        assert shown.returncode == 0, shown.stderr
        assert_terminal_safe(shown)
        # Shown, made visible: as \x1b...\x07 in text, as \e...\a in the status YAML.
        assert "]52;c;ZWNobyBvd25lZA==" in shown.stdout
        assert not any(line.startswith("shop-2") for line in shown.stdout.splitlines())
    # The exact formats stay exact: escaped by JSON's and YAML's own rules, not altered.
    for fmt, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        exact = edgeplane(hub, tmp_path, "get", "assignment", assignment, "-o", fmt)
        assert exact.returncode == 0, exact.stderr
        assert_terminal_safe(exact)
        assert parse(exact.stdout)["status"]["message"] == HOSTILE


def test_relayed_logs_keep_lines_and_tabs_and_escape_the_rest(
    hub: HubProcess, hostile_site: tuple[Site, str], tmp_path: Path
) -> None:
    site, _ = hostile_site
    log = f"first line\n\tindented{OSC52}\n\x1b[2Kwiped\rover\n"
    answered = threading.Thread(target=site.answer_one_request, args=(log,))
    answered.start()
    try:
        shown = edgeplane(hub, tmp_path, "logs", "web", "--site", "shop-1")
    finally:
        answered.join(CLI_SECONDS)
    assert shown.returncode == 0, shown.stderr
    assert_terminal_safe(shown)
    assert shown.stdout == (
        "first line\n\tindented\\x1b]52;c;ZWNobyBvd25lZA==\\x07\n\\x1b[2Kwiped\\rover\n"
    )


WARNING = "check the zone\r\nWarning: forged line\x1b]52;c;cHduZWQ=\x07 \u2603 z\u00fcrich"


def test_a_warning_with_cr_lf_keeps_the_committed_writes_answer(
    hub: HubProcess, tmp_path: Path
) -> None:
    policy = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "warn-all"},
        "spec": {
            "scope": "Admission",
            "enforcement": "Warn",
            "rules": [{"name": "always", "expression": "false", "message": WARNING}],
        },
    }
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump_all([policy, demo_app("web")]))
    applied = edgeplane(hub, tmp_path, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert "application/web created" in applied.stdout
    assert_terminal_safe(applied)
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings == [
        "Warning: policy warn-all rule always: check the zone\\r\\nWarning: forged "
        "line\\x1b]52;c;cHduZWQ=\\x07 \u2603 z\u00fcrich"
    ]
    stored = httpx.get(f"{hub.url}{API}/applications/web", headers=hub.headers())
    assert stored.status_code == 200


NAMES = ["x/../shop-1", "shop-1?x=1", "shop-1#frag", "..", "%73hop-1"]


def test_a_name_cannot_change_the_path(hub: HubProcess, tmp_path: Path) -> None:
    Site(hub, "shop-1")
    for name in NAMES:
        shown = edgeplane(hub, tmp_path, "describe", "site", name)
        assert shown.returncode == 1, (name, shown.stdout)
        assert "Traceback" not in shown.stderr
        assert "Name:               shop-1" not in shown.stdout
        deleted = edgeplane(hub, tmp_path, "delete", "site", name)
        assert deleted.returncode == 1, (name, deleted.stdout)
        still = httpx.get(f"{hub.url}{API}/sites/shop-1", headers=hub.headers())
        assert still.status_code == 200, f"deleting {name!r} deleted shop-1"


def billion_laughs(levels: int = 9) -> str:
    lines = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, this in zip("abcdefghi", "bcdefghij"[: levels - 1], strict=False):
        lines.append(f"    {this}: &{this} [" + ",".join([f"*{prev}"] * 9) + "]")
    return (
        "apiVersion: edgeplane.io/v1alpha1\nkind: SiteGroup\nmetadata:\n  name: bomb\n"
        "  annotations:\n" + "\n".join(lines) + "\nspec:\n  selector: {}\n"
    )


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def test_a_yaml_bomb_is_refused_quickly_within_a_memory_bound(
    hub: HubProcess, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    applied = edgeplane(hub, tmp_path, "apply", "-f", str(bomb), preexec_fn=_bounded_memory)
    assert applied.returncode == 1, applied.stderr
    assert "Traceback" not in applied.stderr and "MemoryError" not in applied.stderr
    assert "YAML refused" in applied.stderr and "aliases are expanded" in applied.stderr
    groups = httpx.get(f"{hub.url}{API}/sitegroups", headers=hub.headers())
    assert groups.json()["items"] == []
