"""Class 5, the agent: what a site's files show to other users, what a workload can
reach, and whether a hostile workload can stop its supervision or aim the agent's
probes elsewhere. Real agents against a real hub; admission against a real hub.

Each test failed on the code before issue 9 (6a13aa7): state.db and logs took the
umask's mode, a workload read ``../../../../credential`` from its working directory,
``runAs`` did not exist, a probe answer ``HTTP/1.0 \\xb200`` ended supervision (the
crashed workload was never restarted), and probes to any host or with CR/LF in their
path were admitted.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import pwd
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import API, DEMO_SERVICE, Agent, Fleet, demo_app, tarball, wait_for
from tests.support.hub import HubProcess, running_hub

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
"""A python other users can execute (the virtualenv's lives under /root, 0700)."""


def app(name: str, **process: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {"terminationGracePeriodSeconds": 2, **process}},
            "placement": {"mode": "EverySite"},
        },
    }


def status_of(fleet: Fleet, name: str, site: str) -> dict[str, Any]:
    return dict(fleet.assignments(name).get(site, {}).get("status") or {})


def logs_of(agent: Agent) -> str:
    logs = agent.data_dir / "runtime" / "process" / "logs"
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def admission_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One hub for the admission tables: each case leaves the store as it was."""
    data = tmp_path_factory.mktemp("admission") / "hub"
    data.mkdir()
    with running_hub(data) as process:
        yield process


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can pass through (pytest's tmp_path is 0700 root's), for
    the workload dir of agents whose workloads run as another user."""
    root = Path(tempfile.mkdtemp(prefix="edgeplane-workloads-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- 1. the data dir is the agent's alone, whatever the umask ------------------------


def test_data_dir_0700_and_files_0600_under_umask_000(fleet: Fleet) -> None:
    with umask(0):
        agent = fleet.add_agent("a")
    secret = {"name": "API_KEY", "value": "s3cr3t"}
    script = "print('started', flush=True); import time; time.sleep(600)"
    fleet.ok(
        "POST", "/applications", app("w", command=sys.executable, args=["-c", script], env=[secret])
    )
    wait_for(lambda: status_of(fleet, "w", "a").get("phase") == "Running", "w running")
    wait_for(lambda: "started" in logs_of(agent), "w's first line in its log")

    seen: dict[str, int] = {}
    for path in [agent.data_dir, *agent.data_dir.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        seen[str(path.relative_to(agent.data_dir))] = stat.S_IMODE(mode)
    expected = {p: (0o700 if (agent.data_dir / p).is_dir() else 0o600) for p in seen}
    assert seen == expected
    for must in ("credential", "state.db", "state.db-wal", "state.db-shm", "spool.db"):
        assert must in seen, f"{must} not found in {sorted(seen)}"
    assert any(p.endswith(".log") for p in seen) and any(p.endswith(".json") for p in seen)


# -- 2. the credential is out of the workload's reach ----------------------------------

READ_UPWARDS = """
import json, os, sys
found = {}
for k in range(1, 9):
    path = "../" * k + "credential"
    try:
        found[path] = open(path).read()
    except OSError as e:
        found[path] = type(e).__name__
for path in sys.argv[1:]:
    try:
        found[path] = open(path).read()
    except OSError as e:
        found[path] = type(e).__name__
print("REPORT " + json.dumps({"uid": os.getuid(), "cwd": os.getcwd(), "found": found}), flush=True)
"""


def report(agent: Agent) -> dict[str, Any]:
    for line in logs_of(agent).splitlines():
        if line.startswith("REPORT "):
            return dict(json.loads(line.removeprefix("REPORT ")))
    raise AssertionError(f"the workload reported nothing; its log: {logs_of(agent)!r}")


def test_no_ancestor_of_a_workloads_directory_holds_the_credential(fleet: Fleet) -> None:
    agent = fleet.add_agent("a")
    body = app("peek", command=sys.executable, args=["-c", READ_UPWARDS], restartPolicy="Never")
    fleet.ok("POST", "/applications", body)
    wait_for(lambda: status_of(fleet, "peek", "a").get("phase") == "Succeeded", "peek done")

    credential = (agent.data_dir / "credential").read_text()
    seen = report(agent)
    assert all(credential not in text for text in seen["found"].values()), seen
    assert not Path(seen["cwd"]).is_relative_to(agent.data_dir)


def test_a_workload_run_as_another_user_cannot_read_the_agents_files(
    fleet: Fleet, open_dir: Path
) -> None:
    agent = fleet.add_agent("a", None, "--workload-dir", str(open_dir / "a"))
    secrets = [agent.data_dir / "credential", agent.data_dir / "state.db"]
    args = ["-c", READ_UPWARDS, *map(str, secrets)]
    body = app(
        "peek", command=SYSTEM_PYTHON, args=args, restartPolicy="Never", runAs={"user": "nobody"}
    )
    fleet.ok("POST", "/applications", body)
    wait_for(lambda: status_of(fleet, "peek", "a").get("phase") == "Succeeded", "peek done")

    seen = report(agent)
    assert seen["uid"] == pwd.getpwnam("nobody").pw_uid
    assert {seen["found"][str(p)] for p in secrets} == {"PermissionError"}
    credential = secrets[0].read_text()
    assert all(credential not in text for text in seen["found"].values()), seen


def test_a_run_as_the_site_cannot_honour_is_a_status_not_a_crash(fleet: Fleet) -> None:
    fleet.add_agent("a")
    script = "import time; time.sleep(600)"
    body = app("ghost", command=sys.executable, args=["-c", script], runAs={"user": "no-such-user"})
    fleet.ok("POST", "/applications", body)

    def refused() -> dict[str, Any] | None:
        status = status_of(fleet, "ghost", "a")
        return status if status.get("reason") == "RunAsFailed" else None

    status = wait_for(refused, "ghost's status to say why it does not run")
    assert "no user 'no-such-user' at this site" in status["message"]
    assert status["phase"] == "CrashLoopBackOff" and status.get("ready") == 0


# -- 3. nothing a workload answers stops its supervision -----------------------------

GARBAGE_THEN_CRASH = """
import os, socket, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
conn, _ = server.accept()
conn.recv(4096)
conn.sendall(b"HTTP/1.0 \\xb200 OK\\r\\n\\r\\n")
conn.close()
time.sleep(0.5)
raise SystemExit(3)
"""


def test_garbage_probe_answer_then_crash_is_restarted(fleet: Fleet) -> None:
    fleet.add_agent("a")
    body = app(
        "liar",
        command=sys.executable,
        args=["-c", GARBAGE_THEN_CRASH],
        ports=[{"name": "http"}],
        healthCheck={"http": {"port": "http", "path": "/healthz"}, "periodSeconds": 1},
    )
    fleet.ok("POST", "/applications", body)

    def restarted_twice() -> dict[str, Any] | None:
        status = status_of(fleet, "liar", "a")
        return status if status.get("restarts", 0) >= 2 else None

    status = wait_for(restarted_twice, "the crashed workload to be restarted, twice")
    assert status["phase"] in {"CrashLoopBackOff", "Running"}


def assert_refused(hub: HubProcess, body: dict[str, Any], field: str) -> None:
    answer = httpx.post(f"{hub.url}{API}/applications", json=body, headers=hub.headers())
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    gone = httpx.get(f"{hub.url}{API}/applications/p", headers=hub.headers())
    assert gone.status_code == 404


# -- 4. probes reach only the workload's own ports on loopback -------------------------

BAD_PROBES = [
    ("other-host", {"http": {"port": "http", "host": "10.0.0.1"}}, "healthCheck.http.host"),
    ("name-lookup", {"tcp": {"port": "http", "host": "metadata.internal"}}, "healthCheck.tcp.host"),
    ("crlf", {"http": {"port": "http", "path": "/h\r\nX-Evil: 1"}}, "healthCheck.http.path"),
    ("space", {"http": {"port": "http", "path": "/h HTTP/1.1"}}, "healthCheck.http.path"),
    ("newline-tail", {"http": {"port": "http", "path": "/h\n"}}, "healthCheck.http.path"),
    ("not-its-port", {"tcp": {"port": 22}}, "healthCheck"),
    ("not-its-name", {"http": {"port": "admin"}}, "healthCheck"),
]


@pytest.mark.parametrize(
    ("check", "field"), [b[1:] for b in BAD_PROBES], ids=[b[0] for b in BAD_PROBES]
)
def test_probes_elsewhere_are_refused_at_admission(
    admission_hub: HubProcess, check: dict[str, Any], field: str
) -> None:
    body = app("p", command="x", ports=[{"name": "http"}], healthCheck=check)
    assert_refused(admission_hub, body, f"spec.workload.process.{field}")


BAD_RUN_AS = [
    ("newline-tail", {"user": "nobody\n"}, "runAs.user"),
    ("space", {"user": "nobody", "group": "no group"}, "runAs.group"),
    ("unicode-digits", {"user": "\u0661\u0662"}, "runAs.user"),
    ("too-large-id", {"user": "99999999999"}, "runAs.user"),
    # group null beside a bad user: the group's check once ran on null (a 500)
    ("not-a-string", {"user": [True], "group": None}, "runAs.user"),
]


@pytest.mark.parametrize(
    ("run_as", "field"), [b[1:] for b in BAD_RUN_AS], ids=[b[0] for b in BAD_RUN_AS]
)
def test_bad_run_as_is_refused_at_admission(
    admission_hub: HubProcess, run_as: dict[str, Any], field: str
) -> None:
    body = app("p", command="x", runAs=run_as)
    assert_refused(admission_hub, body, f"spec.workload.process.{field}")


# -- 5. a workload's log is bounded on disk and in what a tail reads ------------------

FLOOD = """
import os, time
block = b"x" * (1 << 20)
for _ in range(120):
    os.write(1, block)
os.write(1, b"END")
time.sleep(600)
"""


def test_a_flooding_workload_without_newlines_keeps_its_logs_bounded(fleet: Fleet) -> None:
    """120 MiB in a second, in one line: the rotated log keeps only the last 10 MiB (it
    used to be a copy of all of it, made on the agent's event loop) and ``logs`` reads
    at most 4 MiB (it used to read the whole file looking for a newline)."""
    agent = fleet.add_agent("a")
    fleet.ok("POST", "/applications", app("flood", command=sys.executable, args=["-c", FLOOD]))
    wait_for(lambda: status_of(fleet, "flood", "a").get("phase") == "Running", "flood running")
    logs = agent.data_dir / "runtime" / "process" / "logs"

    def rotated() -> list[int] | None:
        sizes = sorted(p.stat().st_size for p in logs.glob("flood.*"))
        return sizes if len(sizes) >= 2 and sizes[0] == 0 else None

    sizes = wait_for(rotated, "the flood's log rotated")
    assert max(sizes) <= 10 * 1024 * 1024, sizes

    def ended() -> httpx.Response | None:
        # The log may rotate before the workload has written its END (a loaded machine).
        answer = fleet.api("GET", "/sites/a/logs", params={"application": "flood", "tail": 10})
        assert answer.status_code == 200, answer.text
        assert len(answer.content) <= 4 * 1024 * 1024
        return answer if answer.text.endswith("xxEND") else None

    wait_for(ended, "the flood's END at the end of its log")


# -- 6. one assignment's status cannot silence the others' ----------------------------


def test_a_status_the_hub_would_refuse_does_not_silence_the_sites_other_statuses(
    fleet: Fleet,
) -> None:
    """A 20,000-character command cannot start, and its error quotes it twice: a
    message over the hub's 32 KiB was refused (422) and the agent's status pass ended
    there, so no other assignment of the site ever reported again."""
    fleet.add_agent("a")
    fleet.ok("POST", "/applications", app("aaa", command="/" + "x" * 20_000))
    wait_for(lambda: fleet.assignments("aaa"), "aaa placed (first in the agent's pass)")
    script = "import time; time.sleep(600)"
    fleet.ok("POST", "/applications", app("zzz", command=sys.executable, args=["-c", script]))

    wait_for(lambda: status_of(fleet, "zzz", "a").get("phase") == "Running", "zzz reported")
    status = wait_for(lambda: status_of(fleet, "aaa", "a") or None, "aaa reported")
    assert status["reason"] == "StartError" and status["message"].endswith(" [cut]")
    assert len(status["message"]) == 32 * 1024


# -- 7. what exec cannot take is refused at admission ---------------------------------

NUL_CASES = [
    ("command", {"command": "py\x00"}, "command"),
    ("args", {"args": ["-c", "print(1)\x00"]}, "args[1]"),
    ("env-list", {"env": [{"name": "X", "value": "a\x00b"}]}, "env[0].value"),
    ("env-map", {"env": {"X": "a\x00b"}}, "env[X]"),
    ("working-dir", {"workingDir": "sub\x00dir"}, "workingDir"),
    (
        "exec-probe",
        {"healthCheck": {"exec": {"command": ["t\x00"]}}},
        "healthCheck.exec.command[0]",
    ),
]


@pytest.mark.parametrize(
    ("process", "field"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES]
)
def test_a_nul_byte_in_what_is_executed_is_refused_at_admission(
    admission_hub: HubProcess, process: dict[str, Any], field: str
) -> None:
    """JSON strings may hold NUL; exec cannot. Such a workload was admitted, and at the
    site its launch raised a ValueError: reason SupervisionError, a stack in the
    agent's log on every restart (the agent now says StartError, should a hub send one:
    tests/unit/agent/test_process_launch.py)."""
    body = app("p", **{"command": "x", **process})
    assert_refused(admission_hub, body, f"spec.workload.process.{field}")


# -- 8. artifacts nothing needs leave the site's disk ----------------------------------


def test_artifacts_nothing_needs_are_removed_from_the_site(fleet: Fleet) -> None:
    """Every version deployed used to stay unpacked on the site for good (the cache's
    gc was never called): a CI deploying each commit fills an edge box's disk."""
    agent = fleet.add_agent("a")
    store = agent.data_dir.with_name("a-workloads") / "artifacts"
    shas = []
    for version in ("1.0.0", "2.0.0"):
        data = tarball(DEMO_SERVICE, {"VERSION": f"{version}\n"})
        shas.append(fleet.push_artifact("demo-service", version, data)["sha256"])
    fleet.ok("POST", "/applications", demo_app("web", "1.0.0"))
    wait_for(lambda: fleet.running("web", {"a"}), "web 1.0.0 running")
    assert {p.name for p in store.iterdir()} == {shas[0]}

    updated = fleet.ok("PUT", "/applications/web", demo_app("web", "2.0.0"))
    generation = updated["metadata"]["generation"]
    wait_for(lambda: fleet.running("web", {"a"}, generation), "web 2.0.0 running")
    wait_for(lambda: {p.name for p in store.iterdir()} == {shas[1]}, "1.0.0 removed")

    fleet.ok("DELETE", "/applications/web")
    wait_for(lambda: not list(store.iterdir()), "2.0.0 removed once nothing runs it")


# -- 9. an answer that is not the hub's does not end the agent -------------------------


class _Portal(http.server.BaseHTTPRequestHandler):
    """What a captive portal or a misconfigured proxy answers: 200 and a web page, to
    everything; then, for a watch, a stream of lines that are not JSON objects."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        watch = "watch=true" in self.path
        body = b'[1]\n"x"\n<html>\n' if watch else b"<html><body>Please log in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if watch else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


def test_answers_that_are_not_the_hubs_do_not_end_the_agent(fleet: Fleet) -> None:
    """A captive portal in the hub's place answered 200 with a web page: the agent's
    loops took json.loads' error (or a list where an object should be) for a bug, the
    agent exited, and nothing supervised its workloads any more."""
    agent = fleet.add_agent("a")
    script = "import time; time.sleep(600)"
    fleet.ok("POST", "/applications", app("w", command=sys.executable, args=["-c", script]))
    wait_for(lambda: status_of(fleet, "w", "a").get("phase") == "Running", "w running")
    fleet.stop_hub()
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", fleet.port), _Portal)
    thread = threading.Thread(target=portal.serve_forever, daemon=True)
    thread.start()
    try:
        time.sleep(8)  # heartbeats every 2 s, the request poll, the watch, the status pass
        assert agent.process is not None and agent.process.poll() is None, agent.log.read_text()
    finally:
        portal.shutdown()
        portal.server_close()
    fleet.start_hub()
    started = status_of(fleet, "w", "a").get("startedAt")
    wait_for(lambda: fleet.site_phase("a") == "Online", "a online again")
    script2 = "import time; time.sleep(601)"
    fleet.ok("POST", "/applications", app("v", command=sys.executable, args=["-c", script2]))
    wait_for(lambda: status_of(fleet, "v", "a").get("phase") == "Running", "v runs: a live agent")
    assert status_of(fleet, "w", "a").get("startedAt") == started  # never restarted


# -- 10. no workload runs in the agent's data dir --------------------------------------


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_working_directory_in_the_data_dir_is_refused(fleet: Fleet, relative: bool) -> None:
    """workingDir is the admin's, and may be absolute: an Application with the agent's
    data dir there (or ``../../..`` from the workload's own directory) ran the workload
    among the credential and state.db, reading ``credential`` by a relative path."""
    agent = fleet.add_agent("a")
    where = "../../../a/runtime" if relative else str(agent.data_dir)
    read = "print(open('credential').read())"
    body = app("wd", command=sys.executable, args=["-c", read], workingDir=where)
    fleet.ok("POST", "/applications", body)

    def refused() -> dict[str, Any] | None:
        status = status_of(fleet, "wd", "a")
        return status if status.get("reason") == "StartError" else None

    status = wait_for(refused, "wd refused a start, saying why")
    assert "lies in the agent's data dir" in status["message"]
    assert (agent.data_dir / "credential").read_text() not in logs_of(agent)


# -- 11. a stubborn workload holds up only itself ---------------------------------------

STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(3600)
"""


def test_a_workload_that_ignores_sigterm_holds_up_only_itself(fleet: Fleet) -> None:
    """A workload ignoring SIGTERM with an hour's grace period: deleting it made the
    agent wait out the hour before it reconciled anything else (a new application
    stayed Pending, a deleted one kept running)."""
    agent = fleet.add_agent("a")
    script = "import time; time.sleep(600)"
    stubborn = app("stubborn", command=sys.executable, args=["-c", STUBBORN])
    stubborn["spec"]["workload"]["process"]["terminationGracePeriodSeconds"] = 3600
    for body in (stubborn, app("old", command=sys.executable, args=["-c", script])):
        fleet.ok("POST", "/applications", body)
    for name in ("stubborn", "old"):
        wait_for(lambda n=name: status_of(fleet, n, "a").get("phase") == "Running", name)

    fleet.ok("DELETE", "/applications/stubborn")
    wait_for(lambda: "removed: stopping" in agent.log.read_text(), "the stop begun")
    fleet.ok("POST", "/applications", app("new", command=sys.executable, args=["-c", script]))
    fleet.ok("DELETE", "/applications/old")
    wait_for(lambda: status_of(fleet, "new", "a").get("phase") == "Running", "new started")
    records = agent.data_dir / "runtime" / "process" / "instances"
    wait_for(lambda: not list(records.glob("old.*")), "old stopped")
    assert list(records.glob("stubborn.*")), "the stubborn one is still in its grace period"


def test_stopping_with_the_agent_takes_one_grace_period_not_their_sum(fleet: Fleet) -> None:
    """--stop-workloads-on-exit stopped the workloads one after the other: four that
    ignore SIGTERM with 4 s of grace each kept the agent 16 s (a service manager kills
    it before that, leaving some running)."""
    agent = fleet.add_agent("a", None, "--stop-workloads-on-exit")
    for i in range(4):
        body = app(f"s{i}", command=sys.executable, args=["-c", STUBBORN])
        body["spec"]["workload"]["process"]["terminationGracePeriodSeconds"] = 4
        fleet.ok("POST", "/applications", body)
    for i in range(4):
        wait_for(lambda n=f"s{i}": status_of(fleet, n, "a").get("phase") == "Running", f"s{i}")
    began = time.monotonic()
    assert agent.stop() == 0
    assert time.monotonic() - began < 10
    assert not agent.kill_leftovers()
