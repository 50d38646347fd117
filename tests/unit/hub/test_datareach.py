"""Which streams a site reaches (``hub.datareach``): its applications' now, and those
that left it within the memory's time, so records published before a failover still
come home; never an application it did not run; the memory is bounded."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from edgeplane.api.wellknown import assignment_name
from edgeplane.api.wire import Object
from edgeplane.hub import datareach
from edgeplane.hub.datareach import Reach
from edgeplane.hub.informer import RELIST_CHANGE, Change


class Objects:
    """The informer as Reach reads it: objects by kind and name."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, dict[str, Any]]] = {
            "Application": {},
            "Assignment": {},
            "DataStream": {},
        }

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.kinds[kind].get(name)

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        return dict(self.kinds[kind])

    def subscribe(self) -> asyncio.Queue[Change]:
        raise AssertionError("not in these tests")

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        pass


def _app(name: str, team: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"team": team}}, "spec": {}}


def _assignment(app: str, site: str) -> dict[str, Any]:
    return {
        "metadata": {"name": assignment_name(app, site)},
        "spec": {"application": app, "site": site},
    }


@pytest.fixture
def objects() -> Objects:
    found = Objects()
    found.kinds["Application"] = {"pub": _app("pub", "cold"), "web": _app("web", "shop")}
    found.kinds["DataStream"] = {
        "temps": {
            "metadata": {"name": "temps"},
            "spec": {"selector": {"matchLabels": {"team": "cold"}}},
        }
    }
    return found


def _place(objects: Objects, app: str, site: str) -> Change:
    obj = _assignment(app, site)
    objects.kinds["Assignment"][obj["metadata"]["name"]] = obj
    return Change("Assignment", obj["metadata"]["name"], "ADDED", None, cast(Object, obj))


def _remove(objects: Objects, app: str, site: str) -> Change:
    obj = objects.kinds["Assignment"].pop(assignment_name(app, site))
    return Change("Assignment", obj["metadata"]["name"], "DELETED", cast(Object, obj), None)


def test_a_site_keeps_reaching_what_left_it(objects: Objects) -> None:
    reach = Reach(objects)  # type: ignore[arg-type]
    assert reach.of("paris", now=0) == {}
    reach.apply(_place(objects, "pub", "paris"))
    assert reach.of("paris", now=1) == {"temps": ("pub",)}, "an assignment drops the cache"
    reach.apply(_remove(objects, "pub", "paris"))
    assert reach.of("paris", now=2) == {"temps": ("pub",)}, "failed over: its backlog comes home"
    assert reach.of("lyon", now=2) == {}, "a site never reaches what it did not run"
    del objects.kinds["Application"]["pub"]
    reach.apply(RELIST_CHANGE)
    assert reach.of("paris", now=3) == {}, "an application deleted reaches nothing"


def test_the_memory_ends_and_is_bounded(objects: Objects, monkeypatch: pytest.MonkeyPatch) -> None:
    reach = Reach(objects)  # type: ignore[arg-type]
    reach.left("paris", "pub", at=0.0)  # long ago
    assert reach.of("paris", now=0) == {}
    monkeypatch.setattr(datareach, "FORMER_MAX", 3)
    for n in range(5):
        reach.left(f"site-{n}", "pub")
    assert reach.of("site-0", now=10) == {} and reach.of("site-1", now=10) == {}
    assert [reach.of(f"site-{n}", now=10) for n in (2, 3, 4)] == [{"temps": ("pub",)}] * 3


def test_a_change_without_site_or_application_is_ignored(objects: Objects) -> None:
    reach = Reach(objects)  # type: ignore[arg-type]
    reach.apply(Change("Assignment", "x", "DELETED", {"spec": {"site": 7}}, None))
    reach.apply(Change("Site", "paris", "DELETED", {"spec": {}}, None))
    assert reach.of("paris", now=0) == {}
