"""Real packet loss in a network namespace: nftables drops what the rule says, and
TCP carries small requests through a 20 % loss by retransmitting.

The echo server runs inside the namespace (its own loopback) as a program, ``python
-m tests.integration.faults.echo``, and so does its client, or the test reaches it
from outside through ``forward``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.faults import echo
from tests.support.netns import Loss, LossyNamespace, loss_rules, lossy_namespace
from tests.support.ports import free_port
from tests.support.toxiproxy import REPO
from tests.support.waiting import wait_until

ECHO = (sys.executable, "-m", "tests.integration.faults.echo")


@pytest.fixture
def echo_port(lossy_netns: LossyNamespace) -> Iterator[int]:
    """An echo server inside the namespace, listening once this yields its port."""
    port = free_port()
    server = subprocess.Popen(
        lossy_netns.command(*ECHO, "serve", str(port)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        yield port
    finally:
        server.kill()
        server.communicate()


def ask(space: LossyNamespace, port: int, *flags: str) -> str:
    """The echo client's verdict, run inside the namespace (``ok N`` or ``error ...``)."""
    done = space.run(*ECHO, "ask", str(port), *flags, cwd=REPO, timeout=240)
    return str(done.stdout).strip()


@pytest.mark.parametrize(
    ("losses", "rules"),
    [
        ({}, []),
        ({80: Loss(0.0, both_ways=True)}, []),
        ({80: Loss(0.2)}, ["tcp dport 80 numgen random mod 100 < 20 counter drop"]),
        ({80: Loss(0.2, both_ways=True)}, ["dport 80 numgen", "sport 80 numgen"]),
        ({80: Loss(1.0), 81: Loss(0.5)}, ["dport 80 counter drop", "dport 81 numgen"]),
    ],
    ids=["none", "zero", "a-fifth", "both-ways", "two-ports"],
)
def test_loss_rules(losses: dict[int, Loss], rules: list[str]) -> None:
    script = loss_rules(losses)
    added = [line for line in script.splitlines() if line.startswith("add rule")]
    assert len(added) == len(rules)
    assert all(want in got for want, got in zip(rules, added, strict=True))


def test_a_whole_loss_fails_a_connect_and_none_lets_it_through(
    lossy_netns: LossyNamespace, echo_port: int
) -> None:
    lossy_netns.set_loss(echo_port, 1.0)
    assert "drop" in lossy_netns.rules()
    assert ask(lossy_netns, echo_port, "--timeout", "1").startswith("error")
    assert lossy_netns.dropped() > 0
    lossy_netns.set_loss(echo_port, 0.0)
    assert ask(lossy_netns, echo_port, "--timeout", "10") == "ok 1"


def test_tcp_carries_small_requests_through_a_fifth_lost(
    lossy_netns: LossyNamespace, echo_port: int
) -> None:
    lossy_netns.set_loss(echo_port, 0.2)
    assert "numgen random mod 100 < 20 counter" in lossy_netns.rules()
    flags = ("--connections", "3", "--count", "15", "--timeout", "120")
    assert ask(lossy_netns, echo_port, *flags) == "ok 45"
    assert lossy_netns.dropped() > 0


def test_this_process_reaches_a_server_inside(lossy_netns: LossyNamespace, echo_port: int) -> None:
    with lossy_netns.forward(echo_port) as outside:
        assert echo.ask(outside, "in", count=3) == ["in-0", "in-1", "in-2"]
        assert echo.ask(outside, "again") == ["again-0"]
    lossy_netns.set_loss(echo_port, 1.0)
    with pytest.raises(TimeoutError):
        lossy_netns.connect(echo_port, timeout=0.5)


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_namespace_and_its_processes_go_even_when_the_block_fails(
    lossy_netns: LossyNamespace,
) -> None:
    assert lossy_netns.name in namespaces()
    with pytest.raises(RuntimeError, match="the test failed"), lossy_namespace() as inner:
        sleeper = subprocess.Popen(inner.command("sleep", "600"))
        # ``ip netns exec`` enters the namespace moments after it starts.
        wait_until(inner.pids, "the sleeper inside", accept=lambda pids: pids == [sleeper.pid])
        raise RuntimeError("the test failed")
    assert sleeper.wait(timeout=30) < 0
    assert inner.name not in namespaces()
