"""Issue 9, class 2: one object may hurt only itself.

Against a real hub process: a huge Divided application and an override that renders an
invalid Assignment, written straight into the SQLite store (as an older hub could have
stored them), do not stop the hub from starting, serving reads and DELETE, or placing
every other application; each bad one carries a condition saying why. A costly CEL rule
is refused at admission with its estimate, one already stored fails without a stall,
and a placement pass heavy with policy evaluations leaves GETs answered.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.api.wire import Object
from tests.support import builders
from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until

API = "/api/v1alpha1"
QUICK = 5.0
"""Seconds a read may take while something bad is loaded (a stalled loop never answers)."""
HUB_FLAGS = ("--offline-after-seconds", "3600")
"""Sites made by hand never heartbeat: they must stay placeable for the whole test."""


def application(name: str, **placement: Any) -> Object:
    workload = {"process": {"command": "python3", "args": ["-m", "http.server"]}}
    return builders.application(name, workload=workload, placement=placement or None)


def site(name: str, **labels: str) -> Object:
    return builders.site(name, labels=labels)


def create(hub: HubProcess, plural: str, obj: Mapping[str, object]) -> httpx.Response:
    return httpx.post(f"{hub.url}{API}/{plural}", json=obj, headers=hub.headers(), timeout=QUICK)


def get(hub: HubProcess, path: str) -> httpx.Response:
    return httpx.get(f"{hub.url}{API}/{path}", headers=hub.headers(), timeout=QUICK)


def placed_sites(hub: HubProcess, app: str) -> set[str]:
    found = get(hub, f"assignments?labelSelector=edgeplane.io/application={app}").json()
    return {a["spec"]["site"] for a in found["items"]}


def condition(hub: HubProcess, app: str, kind: str = "Placed") -> dict[str, Any] | None:
    status = get(hub, f"applications/{app}").json().get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def rewrite(data_dir: Path, kind: str, name: str, change: Any) -> None:
    """Change a stored object's body in SQLite, behind the API's back."""
    with sqlite3.connect(data_dir / "edgeplane.db") as db:
        (body,) = db.execute(
            "SELECT body FROM objects WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        obj = json.loads(body)
        change(obj)
        db.execute(
            "UPDATE objects SET body = ? WHERE kind = ? AND name = ?",
            (json.dumps(obj), kind, name),
        )


@pytest.fixture
def two_sites(tmp_path: Path) -> Iterator[Path]:
    """A hub's data dir holding sites s1 and s2 and the application good (one replica),
    placed; the hub is stopped again when the test gets the dir."""
    data = tmp_path / "hub"
    data.mkdir()
    with running_hub(data, *HUB_FLAGS) as hub:
        for name in ("s1", "s2"):
            assert create(hub, "sites", site(name, region=name)).status_code == 201
        good = application("good", mode="Replicas", replicas=1)
        assert create(hub, "applications", good).status_code == 201
        wait_until(
            lambda: placed_sites(hub, "good"), "good to be placed", ignore=(httpx.HTTPError,)
        )
    # Stopped before the test: a hub left running beside the test's own ones kept its
    # copy of an application the test then changed behind the API's back, and placed
    # it from that copy (the CI failure of test_a_stored_override_...).
    yield data


def stored_then_broken(data: Path, obj: Object, change: Any) -> None:
    """``obj`` written through the API by a hub, then changed in the store by hand."""
    with running_hub(data, *HUB_FLAGS) as hub:
        assert create(hub, "applications", obj).status_code == 201
    rewrite(data, "Application", obj["metadata"]["name"], change)


def serves_and_places_others(hub: HubProcess, bad: str) -> None:
    """Reads answer at once, another application is placed, and ``bad`` is deleted."""
    assert get(hub, "applications").status_code == 200
    assert create(hub, "applications", application("later")).status_code == 201
    wait_until(
        lambda: placed_sites(hub, "later") == {"s1", "s2"},
        "later to be placed",
        ignore=(httpx.HTTPError,),
    )
    assert placed_sites(hub, "good")
    deleted = httpx.delete(f"{hub.url}{API}/applications/{bad}", headers=hub.headers())
    assert deleted.status_code == 200
    assert get(hub, f"applications/{bad}").status_code == 404


def test_a_stored_huge_divided_application_is_marked_and_deletable(two_sites: Path) -> None:
    def huge(obj: dict[str, Any]) -> None:
        obj["spec"]["placement"]["replicas"] = 10**30

    divided = application("huge", mode="Replicas", replicas=3, division="Divided")
    stored_then_broken(two_sites, divided, huge)
    with running_hub(two_sites, *HUB_FLAGS) as hub:
        # the condition the hub before wrote ("Placed") stays until this one marks it
        invalid = wait_until(
            lambda: (c := condition(hub, "huge")) and c["reason"] == "Invalid" and c,
            "huge to be marked",
            ignore=(httpx.HTTPError,),
            seen=lambda: condition(hub, "huge"),
        )
        assert invalid["status"] == "False"
        assert "spec.placement.replicas" in invalid["message"]
        serves_and_places_others(hub, "huge")


def test_a_stored_override_that_renders_an_invalid_assignment_fails_alone(
    two_sites: Path,
) -> None:
    def typo(obj: dict[str, Any]) -> None:
        obj["spec"]["overrides"] = [{"site": "s2", "values": {"process": {"command": 123}}}]

    stored_then_broken(two_sites, application("typo"), typo)
    with running_hub(two_sites, *HUB_FLAGS) as hub:
        failed = wait_until(
            lambda: (c := condition(hub, "typo")) and c["reason"] == "RenderFailed" and c,
            "typo to be marked",
            ignore=(httpx.HTTPError,),
        )
        assert failed["status"] == "False"
        assert "s2" in failed["message"] and "spec.overrides" in failed["message"]
        serves_and_places_others(hub, "typo")


def test_an_override_that_renders_an_invalid_assignment_is_refused(hub: HubProcess) -> None:
    app = application("typo")
    app["spec"]["overrides"] = [
        {"site": "s1", "values": {"process": {"args": ["--fast"]}}},
        {"site": "s2", "values": {"process": {"command": 123}}},
    ]
    for path in ("applications", "applications/dry-run"):
        answer = create(hub, path, app)
        assert answer.status_code == 422, answer.text
        assert "spec.overrides[1].values.process.command" in answer.text
    assert get(hub, "applications/typo").status_code == 404


def numbers(n: int) -> str:
    return "[" + ",".join(str(i) for i in range(n)) + "]"


def placement_policy(name: str, expression: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"scope": "Placement", "rules": [{"name": "r", "expression": expression}]},
    }


def test_a_costly_rule_is_refused_with_its_estimate_and_the_limit(hub: HubProcess) -> None:
    costly = f"{numbers(1000)}.all(x, {numbers(1000)}.all(y, {numbers(1000)}.exists(z, z < 0)))"
    answer = create(hub, "policies", placement_policy("costly", costly))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert "spec.rules[0].expression" in answer.text
    assert "estimated cost" in body["message"] and "10,000,000" in body["message"]
    assert get(hub, "policies/costly").status_code == 404


def test_a_stored_costly_rule_fails_with_a_reason_and_the_hub_keeps_answering(
    two_sites: Path,
) -> None:
    # 9,000 iterations, each copying a 90 KB string: about a second for every
    # (application, label set) on the old hub, far over the limit here.
    big = "x" * 90_000
    slow = (
        f'site.labels.all(k, k != "") && '
        f'{numbers(100)}.all(a, {numbers(90)}.all(b, ("{big}" + string(a)) != ""))'
    )

    def costly(obj: dict[str, Any]) -> None:
        obj["spec"]["rules"][0]["expression"] = slow

    with running_hub(two_sites, *HUB_FLAGS) as hub:
        answer = create(hub, "policies", placement_policy("slow", "true"))
        assert answer.status_code == 201, answer.text
    rewrite(two_sites, "Policy", "slow", costly)
    with running_hub(two_sites, *HUB_FLAGS) as hub:
        assert create(hub, "applications", application("later")).status_code == 201
        unplaced = wait_until(
            lambda: (
                c if (c := condition(hub, "later")) and "estimated cost" in c["message"] else None
            ),
            "later to be refused by the costly rule, with its reason",
            ignore=(httpx.HTTPError,),
        )
        assert unplaced["status"] == "False"
        assert get(hub, "sites").status_code == 200


def test_reads_are_answered_during_a_pass_heavy_with_policy_evaluations(hub: HubProcess) -> None:
    # Within the cost limit, but over a millisecond an evaluation, and one evaluation
    # for each (application, site label set): 40 x 100 of them for a pass.
    heavy = (
        f'site.labels.all(k, k != "") && app.metadata.name != "" && {numbers(9_000)}.all(i, i >= 0)'
    )
    for i in range(100):
        assert create(hub, "sites", site(f"s{i}", id=str(i))).status_code == 201
    for i in range(40):
        one = application(f"app{i}", mode="Replicas", replicas=1)
        assert create(hub, "applications", one).status_code == 201
    wait_until(
        lambda: placed_sites(hub, "app39"), "the fleet to be placed", ignore=(httpx.HTTPError,)
    )
    assert create(hub, "policies", placement_policy("heavy", heavy)).status_code == 201
    slowest, deadline = 0.0, time.monotonic() + 6.0
    while time.monotonic() < deadline:  # the pass the new policy starts runs meanwhile
        started = time.monotonic()
        assert get(hub, "sites?limit=1").status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    # Wide of any noise on a shared machine: the pass holding the loop made GETs wait
    # past 5 s (QUICK's timeout); answered between evaluations, they wait milliseconds.
    assert slowest < 3.0, f"a GET took {slowest:.2f} s during the placement pass"


def test_a_stored_policy_that_cannot_be_read_stops_neither_writes_nor_placement(
    two_sites: Path,
) -> None:
    def broken(obj: dict[str, Any]) -> None:
        del obj["spec"]["scope"]
        obj["spec"]["rules"] = "not a list"

    with running_hub(two_sites, *HUB_FLAGS) as hub:
        assert create(hub, "policies", placement_policy("broken", "true")).status_code == 201
    rewrite(two_sites, "Policy", "broken", broken)
    with running_hub(two_sites, *HUB_FLAGS) as hub:
        serves_and_places_others(hub, "good")
        deleted = httpx.delete(f"{hub.url}{API}/policies/broken", headers=hub.headers())
        assert deleted.status_code == 200
