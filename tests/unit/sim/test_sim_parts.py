"""The simulator's pure parts: its flags, its latency histogram, its workload model."""

from __future__ import annotations

import resource

import pytest

from edgeplane.api.wire import Object
from edgeplane.sim.command import crowded, raise_nofile
from edgeplane.sim.options import SimOptions, from_arguments, parser
from edgeplane.sim.stats import Histogram
from edgeplane.sim.workloads import Behaviour, SiteWork
from tests.support.waiting import wait_until_async


def test_flags_parse_into_options() -> None:
    args = parser().parse_args(
        ["--hub", "http://127.0.0.1:1", "--token-file", "t", "--sites", "3",
         "--start-delay", "1:2.5", "--labels", "a=b,c=d", "--memory", "1Gi"]
    )  # fmt: skip
    options = from_arguments(args, "ep_x_y")
    assert options.start_delay == (1.0, 2.5)
    assert options.labels == {"a": "b", "c": "d"}
    assert options.memory_bytes == 2**30
    assert options.site_name(7) == "sim-00007"


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--sites", "-1", "give 0 to 100000"),
        ("--sites", "many", "not a number"),
        ("--heartbeat-seconds", "nan", "give 0.5 to 3600"),
        ("--start-delay", "3:1", "MIN <= MAX"),
        ("--cpu", "lots", "not a quantity"),
        ("--memory", "0", "above 0"),
        ("--labels", "novalue", "KEY=VALUE"),
        ("--labels", "edgeplane.io/site=x", "the hub's"),
        ("--prefix", "Bad_Name", "site names"),
        ("--source-addresses", "0", "give 1 to 65536"),
        ("--hub-protocol", "v3", "invalid choice"),
    ],
)
def test_a_bad_flag_is_named_with_the_fix(
    flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--hub", "http://h:1", "--token-file", "t", "--sites", "1", flag, value]
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and says in err


def test_source_addresses_round_robin() -> None:
    options = SimOptions(hub="http://h:1", token="t", source_addresses=300)
    assert options.source_address(0) == "127.0.0.1"
    assert options.source_address(254) == "127.0.0.255"
    assert options.source_address(255) == "127.0.1.0"
    assert options.source_address(300) == "127.0.0.1"


def test_histogram_percentiles_are_bounded_and_close() -> None:
    histogram = Histogram()
    for ms in range(1, 1001):
        histogram.add(float(ms))
    p50, p99 = histogram.percentile(50), histogram.percentile(99)
    assert p50 is not None and 500 <= p50 <= 500 * 1.06
    assert p99 is not None and 990 <= p99 <= 990 * 1.06
    histogram.add(1e12)  # far past the last bucket: counted there, not a new one
    assert len(histogram.counts) == 400
    histogram.reset()
    assert histogram.percentile(50) is None


def assignment(name: str, generation: int = 1, cpu: str = "1", replicas: int = 1) -> Object:
    return {
        "metadata": {"name": name, "generation": generation},
        "spec": {"replicas": replicas, "resources": {"cpu": cpu, "memory": "1Mi"}},
    }


async def test_workloads_start_run_and_wait_for_capacity() -> None:
    changed: list[str] = []
    work = SiteWork(Behaviour((0.01, 0.02), 0.0, 2000, 2**30), changed.append)
    work.apply("ADDED", assignment("a", cpu="1500m"))
    work.apply("ADDED", assignment("b", cpu="1"))
    assert work.works["a"].status["phase"] == "Starting"
    assert work.works["b"].status == {
        "phase": "Pending",
        "reason": "InsufficientCapacity",
        "message": "needs 1000m CPU and 1048576 bytes; the site has 500m and 1072693248 bytes left",
    }
    await wait_until_async(
        lambda: work.works["a"].status["phase"] == "Running", within=5.0, every=0.01
    )
    assert work.patch("a") == {
        "phase": "Running", "ready": 1, "restarts": 0, "observedGeneration": 1,
        "startedAt": work.works["a"].status["startedAt"],
    }  # fmt: skip
    work.sent("a", work.patch("a") or {})
    assert work.patch("a") is None
    work.apply("DELETED", assignment("a"))
    assert work.works["b"].status["phase"] == "Starting"  # room freed
    await wait_until_async(lambda: work.counts() == (1, 1), within=5.0, every=0.01)
    assert changed.count("b") == 3


async def test_a_crashing_workload_backs_off_and_runs_again() -> None:
    work = SiteWork(Behaviour((0.01, 0.01), 6000.0, 4000, 2**30), lambda _: None)
    work.apply("ADDED", assignment("a"))
    await wait_until_async(
        lambda: work.works["a"].status.get("restarts", 0) >= 2, within=5.0, every=0.01
    )
    assert work.works["a"].status["phase"] in ("Running", "CrashLoopBackOff")
    work.stop()


async def test_a_new_generation_starts_again() -> None:
    work = SiteWork(Behaviour((0.01, 0.01), 0.0, 4000, 2**30), lambda _: None)
    work.apply("ADDED", assignment("a"))
    await wait_until_async(lambda: work.counts() == (1, 1), within=5.0, every=0.01)
    work.apply("MODIFIED", assignment("a", generation=1))  # own status echoed: nothing
    assert work.counts() == (1, 1)
    work.apply("MODIFIED", assignment("a", generation=2, replicas=3))
    assert work.works["a"].status["phase"] == "Starting"
    await wait_until_async(lambda: work.works["a"].status.get("ready") == 3, within=5.0, every=0.01)
    assert (work.patch("a") or {}).get("observedGeneration") == 2


def test_crowded_source_addresses_are_said_with_the_fix() -> None:
    options = SimOptions(hub="http://h:1", token="t")
    assert crowded(options, 10_000) == (
        "edgeplane sim: up to 346 connections per source address, over the hub's default "
        "--connections-per-peer 256 (a hub without the stream route): give "
        "--source-addresses 90 or more"
    )
    assert crowded(options, 5_000) is None
    assert crowded(SimOptions(hub="http://h:1", token="t", hub_protocol="v2"), 10_000) is None


def test_the_descriptor_limit_is_raised_when_allowed() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_nofile(min(soft, 64)) is None  # already enough: unchanged
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
    too_many = 2**40  # past any kernel's ceiling
    problem = raise_nofile(too_many)
    assert problem is not None and f"{too_many} may be needed" in problem
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # as root it raised both


def failing(env: object, policy: str | None = None, generation: int = 1) -> Object:
    obj = assignment("a", generation=generation)
    process: dict[str, object] = {"command": "/bin/true", "env": env}
    if policy:
        process["restartPolicy"] = policy
    obj["spec"]["workload"] = {"process": process}
    return obj


@pytest.mark.parametrize(
    ("env", "policy", "phase"),
    [
        ({"EDGEPLANE_SIM_FAIL": "1"}, None, "CrashLoopBackOff"),
        ([{"name": "EDGEPLANE_SIM_FAIL", "value": "1"}], "OnFailure", "CrashLoopBackOff"),
        ({"EDGEPLANE_SIM_FAIL": "1"}, "Never", "Failed"),
        ({"EDGEPLANE_SIM_FAIL": "0"}, None, "Running"),
        ([{"name": "OTHER", "value": "1"}], "Never", "Running"),
        (None, None, "Running"),
    ],
    ids=["dict-always", "list-onfailure", "never-fails-once", "zero-runs", "other-runs", "none"],
)
async def test_a_workload_told_to_fail_exits_at_each_start(
    env: object, policy: str | None, phase: str
) -> None:
    work = SiteWork(Behaviour((0.01, 0.01), 0.0, 4000, 2**30), lambda _: None)
    work.apply("ADDED", failing(env, policy))
    await wait_until_async(
        lambda: work.works["a"].status["phase"] != "Starting", within=5.0, every=0.01
    )
    status = work.works["a"].status
    assert status["phase"] == phase and status["ready"] == (1 if phase == "Running" else 0)
    if phase != "Running":
        assert status["reason"] == "Error"
        assert status["message"].startswith("exit code 1 (EDGEPLANE_SIM_FAIL=1)")
        assert status["restarts"] == (1 if phase == "CrashLoopBackOff" else 0)
    work.stop()


async def test_a_failing_revision_replaced_by_a_good_one_runs() -> None:
    work = SiteWork(Behaviour((0.01, 0.01), 0.0, 4000, 2**30), lambda _: None)
    work.apply("ADDED", failing({"EDGEPLANE_SIM_FAIL": "1"}))
    await wait_until_async(
        lambda: work.works["a"].status["phase"] == "CrashLoopBackOff", within=5.0, every=0.01
    )
    assert work.works["a"].status["message"] == (
        "exit code 1 (EDGEPLANE_SIM_FAIL=1), restarting in 1 s"
    )
    work.apply("MODIFIED", failing({}, generation=2))  # rolled back: a new generation
    await wait_until_async(lambda: work.counts() == (1, 1), within=5.0, every=0.01)
    assert (work.patch("a") or {})["observedGeneration"] == 2
    work.stop()
