"""``TableIndex``: the endpoint table kept from object changes, working out again only
the applications a change touches, and handing out a new Table only on a change."""

from __future__ import annotations

from typing import Any

from edgeplane.traffic.index import TableIndex


def site(name: str, phase: str = "Online", region: str = "eu", heartbeat: str = "t0") -> Any:
    return {
        "metadata": {"name": name, "labels": {"region": region}},
        "spec": {"location": {"lat": 48.0, "lon": 2.0}},
        "status": {"phase": phase, "lastHeartbeat": heartbeat},
    }


def assignment(app: str, at: str, port: int = 8080, phase: str = "Running", ready: int = 1) -> Any:
    return {
        "metadata": {"name": f"{app}.{at}", "generation": 1},
        "spec": {"application": app, "site": at},
        "status": {
            "phase": phase,
            "ready": ready,
            "observedGeneration": 1,
            "endpoints": [{"name": "http", "port": port, "url": f"http://10.0.0.1:{port}"}],
        },
    }


def healthy(index: TableIndex, app: str) -> set[tuple[str, bool]]:
    return {(t.site, t.healthy) for t in index.table().of(app)}


def test_a_full_list_gives_every_applications_targets() -> None:
    index = TableIndex()
    index.reset([site("a"), site("b")], [assignment("web", "a"), assignment("web", "b")])
    assert healthy(index, "web") == {("a", True), ("b", True)}
    assert index.applications_at("a") == ("web",)


def test_a_heartbeat_changes_nothing_and_keeps_the_same_table() -> None:
    index = TableIndex()
    index.reset([site("a")], [assignment("web", "a")])
    before = index.table()
    index.put_site(site("a", heartbeat="t1"))
    assert index.table() is before


def test_a_site_going_offline_marks_its_applications_unhealthy() -> None:
    index = TableIndex()
    index.reset([site("a"), site("b")], [assignment("web", "a"), assignment("api", "b")])
    api_before = index.table().of("api")
    index.put_site(site("a", phase="Offline"))
    assert healthy(index, "web") == {("a", False)}
    assert index.table().of("api") is api_before  # not worked out again


def test_an_instance_no_longer_ready_and_a_deleted_assignment() -> None:
    index = TableIndex()
    index.reset([site("a"), site("b")], [assignment("web", "a"), assignment("web", "b")])
    index.put_assignment(assignment("web", "b", phase="Unhealthy", ready=0))
    assert healthy(index, "web") == {("a", True), ("b", False)}
    index.drop_assignment("web.a")
    assert healthy(index, "web") == {("b", False)}
    index.drop_assignment("web.b")
    assert index.table().of("web") == ()
    assert index.applications_at("a") == ()


def test_a_deleted_site_takes_its_targets_and_a_relist_forgets_what_is_gone() -> None:
    index = TableIndex()
    index.reset([site("a")], [assignment("web", "a"), assignment("old", "a")])
    index.drop_site("a")
    assert index.table().of("web") == ()
    index.reset([site("a")], [assignment("web", "a")])
    assert healthy(index, "web") == {("a", True)}
    assert index.table().of("old") == ()


def test_an_assignment_of_the_wrong_shape_is_left_out() -> None:
    index = TableIndex()
    index.reset([site("a")], [{"metadata": {"name": "x"}, "spec": "nonsense"}])  # type: ignore[typeddict-item]
    index.put_assignment({"metadata": {"name": "y"}, "spec": {"application": 3, "site": "a"}})
    assert dict(index.table().targets) == {}
