"""The site's own DNS (``agent.naming``): the hub's answer read defensively, this
site's instances as targets, and the flags that turn it on."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.agent.__main__ import parser, settings_from
from edgeplane.agent.naming import LocalDns, local_targets, remote_targets
from edgeplane.agent.runtimes import Endpoint, InstanceStatus, Phase

REMOTE = {
    "site": "nyc",
    "region": "us",
    "address": "10.0.0.13",
    "port": 8080,
    "weight": 2,
    "healthy": True,
    "portName": "http",
}


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ({"applications": {"web": [REMOTE]}}, {"web": ("nyc",)}),
        ({"applications": {"web": [{**REMOTE, "site": "paris"}]}}, {"web": ()}),  # ours: local
        ({"applications": {"web": [{**REMOTE, "address": "nyc.example"}]}}, {"web": ()}),
        ({"applications": {"web": [{**REMOTE, "port": 0}, "junk", None]}}, {"web": ()}),
        ({"applications": {"web": "nope", 3: [REMOTE]}}, {}),
        ({"applications": []}, {}),
        ("not a mapping", {}),
        (None, {}),
    ],
    ids=["one", "own-site", "hostname", "bad-entries", "bad-apps", "list", "text", "none"],
)
def test_the_hubs_answer_is_read_defensively(
    answer: Any, found: dict[str, tuple[str, ...]]
) -> None:
    read = remote_targets(answer, "paris")
    assert {app: tuple(t.site for t in targets) for app, targets in read.items()} == found


def _assignment(generation: int = 2) -> Any:
    return {
        "metadata": {"name": "web.paris", "generation": generation},
        "spec": {"application": "web", "site": "paris"},
    }


def _instance(phase: Phase = Phase.RUNNING, ready: bool = True, generation: int = 2) -> Any:
    return InstanceStatus(
        "web.paris", generation, phase, ready, endpoints=(Endpoint("http", 31000),)
    )


@pytest.mark.parametrize(
    ("instance", "healthy"),
    [
        (_instance(), True),
        (_instance(ready=False), False),
        (_instance(Phase.CRASH_LOOP, ready=False), False),
        (_instance(generation=1), False),
    ],
    ids=["ready", "not-ready", "crash-loop", "old-generation"],
)
def test_this_sites_instances_are_targets(instance: InstanceStatus, healthy: bool) -> None:
    found = local_targets(
        {"web.paris": _assignment()}, {instance.key: instance}, "paris", "10.0.0.11", "eu"
    )
    (target,) = found["web"]
    assert (target.site, target.address, target.port, target.port_name) == (
        "paris",
        "10.0.0.11",
        31000,
        "http",
    )
    assert target.healthy is healthy


def test_an_instance_of_an_assignment_no_longer_held_is_no_target() -> None:
    instance = _instance()
    assert local_targets({}, {instance.key: instance}, "paris", "10.0.0.11", None) == {}


def test_the_flags_turn_it_on_together() -> None:
    args = parser().parse_args(
        ["--data-dir", "/d", "--dns-listen", "127.0.0.1:5300", "--dns-zone", "Apps.Example."]
    )
    assert settings_from(args).dns == LocalDns("apps.example", "127.0.0.1", 5300, 5)
    assert settings_from(parser().parse_args(["--data-dir", "/d"])).dns is None
    with pytest.raises(ValueError, match="go together"):
        settings_from(parser().parse_args(["--data-dir", "/d", "--dns-zone", "apps.example"]))


@pytest.mark.parametrize(
    ("flag", "text"),
    [
        ("--dns-listen", "localhost:53"),
        ("--dns-listen", "127.0.0.1:0"),
        ("--dns-listen", "127.0.0.1"),
        ("--dns-zone", "not a zone"),
        ("--dns-ttl", "0"),
    ],
)
def test_bad_flags_are_refused(flag: str, text: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--data-dir", "/d", flag, text])
