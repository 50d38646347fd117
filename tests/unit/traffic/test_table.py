"""``traffic.table``: a Target per endpoint with an IP literal, healthy only when the
site is Online and the assignment Running, ready and current; junk of any type is
skipped, never raised about."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.traffic.table import EMPTY, TARGETS_PER_ASSIGNMENT_MAX, Table, Target, table_from


def site(
    name: str = "paris",
    *,
    region: str | None = "eu-west",
    location: object = None,
    phase: object = "Online",
) -> Any:
    """A Site as it travels (``Any``: a test may give any field any type)."""
    labels = {"region": region} if region is not None else {}
    spec = {"location": location} if location is not None else {}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec, "status": {"phase": phase}}


def assignment(
    app: str = "web",
    at: str = "paris",
    *,
    urls: tuple[object, ...] = ("http://10.0.0.1:8080",),
    phase: object = "Running",
    ready: object = 1,
    generation: object = 2,
    observed: object = 2,
    name: object = "http",
) -> Any:
    """An Assignment as it travels, with one endpoint per url."""
    status: dict[str, Any] = {
        "phase": phase,
        "ready": ready,
        "endpoints": [{"name": name, "port": 8080, "url": url} for url in urls],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    metadata: dict[str, Any] = {"name": f"{app}-{at}"}
    if generation is not None:
        metadata["generation"] = generation
    return {"metadata": metadata, "spec": {"application": app, "site": at}, "status": status}


def only(table: Table, app: str = "web") -> Target:
    (target,) = table.of(app)
    return target


def test_one_target_per_endpoint_with_the_sites_place() -> None:
    located = site(location={"lat": 48.8, "lon": 2.3})
    table = table_from([located], [assignment(ready=3)])
    assert only(table) == Target(
        application="web", site="paris", region="eu-west", lat=48.8, lon=2.3,
        address="10.0.0.1", port=8080, port_name="http", weight=3, healthy=True,
    )  # fmt: skip


HEALTH = [
    ("running", {}, {}, True),
    ("site offline", {"phase": "Offline"}, {}, False),
    ("site cordoned", {"phase": "Cordoned"}, {}, False),
    ("site without phase", {"phase": None}, {}, False),
    ("assignment pending", {}, {"phase": "Pending"}, False),
    ("none ready", {}, {"ready": 0}, False),
    ("ready missing", {}, {"ready": None}, False),
    ("ready a string", {}, {"ready": "3"}, False),
    ("ready a bool", {}, {"ready": True}, False),
    ("status of an older generation", {}, {"observed": 1}, False),
    ("no observedGeneration", {}, {"observed": None}, True),
    ("observed but no generation", {}, {"generation": None}, False),
    ("observedGeneration a string", {}, {"observed": "2"}, False),
]


@pytest.mark.parametrize(
    ("site_fields", "assignment_fields", "healthy"),
    [h[1:] for h in HEALTH],
    ids=[h[0] for h in HEALTH],
)
def test_health(
    site_fields: dict[str, Any], assignment_fields: dict[str, Any], healthy: bool
) -> None:
    table = table_from([site(**site_fields)], [assignment(**assignment_fields)])
    assert only(table).healthy is healthy


@pytest.mark.parametrize(
    ("ready", "weight"),
    [(5, 5), (1, 1), (0, 1), (None, 1), ("x", 1)],
    ids=["five", "one", "zero is one", "missing is one", "junk is one"],
)
def test_weight_is_the_ready_count_at_least_one(ready: object, weight: int) -> None:
    assert only(table_from([site()], [assignment(ready=ready)])).weight == weight


URLS = [
    ("ipv4", "http://10.0.0.1:8080", ("10.0.0.1", 8080)),
    ("https", "https://10.0.0.1:443", ("10.0.0.1", 443)),
    ("with a path", "http://10.0.0.1:80/healthz?x=1", ("10.0.0.1", 80)),
    ("ipv6 in brackets", "http://[2001:db8::1]:80", ("2001:db8::1", 80)),
    ("ipv6 compressed", "http://[2001:0db8:0:0::0001]:80", ("2001:db8::1", 80)),
    ("uppercase scheme", "HTTP://10.0.0.1:80", ("10.0.0.1", 80)),
    ("hostname", "http://shop.example:80", None),
    ("localhost", "http://localhost:80", None),
    ("ipv6 without brackets", "http://2001:db8::1:80", None),
    ("ipv4 in brackets", "http://[10.0.0.1]:80", None),
    ("no port", "http://10.0.0.1", None),
    ("empty port", "http://10.0.0.1:", None),
    ("port zero", "http://10.0.0.1:0", None),
    ("port too big", "http://10.0.0.1:65536", None),
    ("signed port", "http://10.0.0.1:+80", None),
    ("non-ascii digits", "http://10.0.0.1:\u0668\u0660", None),
    ("other scheme", "ftp://10.0.0.1:21", None),
    ("no scheme", "10.0.0.1:80", None),
    ("user info", "http://user@10.0.0.1:80", None),
    ("unspecified", "http://0.0.0.0:80", None),
    ("scoped ipv6", "http://[fe80::1%eth0]:80", None),
    ("empty", "", None),
    ("too long", "http://10.0.0.1:80/" + "x" * 5000, None),
    ("not a string", 8080, None),
    ("none", None, None),
    ("a list", ["http://10.0.0.1:80"], None),
]


@pytest.mark.parametrize(("url", "expected"), [u[1:] for u in URLS], ids=[u[0] for u in URLS])
def test_endpoint_urls(url: object, expected: tuple[str, int] | None) -> None:
    targets = table_from([site()], [assignment(urls=(url,))]).of("web")
    assert [(t.address, t.port) for t in targets] == ([expected] if expected else [])


JUNK: list[tuple[str, object, object]] = [
    ("none", None, None),
    ("numbers", 3, 4.5),
    ("strings", "paris", "web"),
    ("a mapping", {"metadata": {"name": "paris"}}, {"spec": {}}),
    ("junk elements", [None, 1, "x", [], {}, {"metadata": "x"}], [None, 2, "y", [[]], {}]),
    ("spec a list", [site()], [{"spec": ["web"], "status": {}}]),
    ("endpoints a mapping", [site()], [{**assignment(), "status": {"endpoints": {"a": 1}}}]),
    ("endpoint a string", [site()], [{**assignment(), "status": {"endpoints": ["http://x"]}}]),
    ("names not strings", [{"metadata": {"name": 7}}], [{"spec": {"application": 1, "site": 7}}]),
    ("a generator", (s for s in [site()]), iter([assignment()])),
]


@pytest.mark.parametrize(("sites", "assignments"), [j[1:] for j in JUNK], ids=[j[0] for j in JUNK])
def test_junk_is_skipped_not_raised(sites: Any, assignments: Any) -> None:
    table = table_from(sites, assignments)
    assert all(t.address == "10.0.0.1" for ts in table.targets.values() for t in ts)


LOCATIONS = [
    ("both", {"lat": 48.8, "lon": 2.3}, (48.8, 2.3)),
    ("integers", {"lat": 48, "lon": 2}, (48.0, 2.0)),
    ("lat only", {"lat": 48.8}, (None, None)),
    ("lat out of range", {"lat": 91, "lon": 2.3}, (None, None)),
    ("lon out of range", {"lat": 48.8, "lon": -181}, (None, None)),
    ("strings", {"lat": "48.8", "lon": "2.3"}, (None, None)),
    ("bools", {"lat": True, "lon": False}, (None, None)),
    ("nan", {"lat": float("nan"), "lon": 2.3}, (None, None)),
    ("huge int", {"lat": 10**400, "lon": 2}, (None, None)),
    ("not a mapping", [48.8, 2.3], (None, None)),
]


@pytest.mark.parametrize(
    ("location", "expected"), [x[1:] for x in LOCATIONS], ids=[x[0] for x in LOCATIONS]
)
def test_site_location(location: object, expected: tuple[float | None, float | None]) -> None:
    target = only(table_from([site(location=location)], [assignment()]))
    assert (target.lat, target.lon) == expected


@pytest.mark.parametrize(
    ("labels", "region"),
    [({"region": "eu-west"}, "eu-west"), ({}, None), ({"region": 3}, None), ("x", None)],
    ids=["label", "no label", "not a string", "labels not a mapping"],
)
def test_region_is_the_sites_region_label(labels: object, region: str | None) -> None:
    raw = site()
    raw["metadata"]["labels"] = labels
    assert only(table_from([raw], [assignment()])).region == region


def test_assignments_at_unknown_sites_are_skipped() -> None:
    table = table_from([site("paris")], [assignment(at="lyon"), assignment(app="db")])
    assert set(table.targets) == {"db"}


def test_the_same_address_and_port_at_a_site_is_one_target_a_healthy_report_winning() -> None:
    twice = ("http://10.0.0.1:8080", "http://10.0.0.1:8080", "http://10.0.0.1:9090")
    stale = assignment(urls=twice, phase="Pending")
    current = assignment(urls=("http://10.0.0.1:8080",))
    table = table_from([site()], [stale, current])
    assert [(t.port, t.healthy) for t in table.of("web")] == [(8080, True), (9090, False)]


def test_the_same_address_at_two_sites_or_for_two_applications_is_kept() -> None:
    sites = [site("paris"), site("lyon")]
    table = table_from(sites, [assignment(), assignment(at="lyon"), assignment(app="db")])
    assert [t.site for t in table.of("web")] == ["paris", "lyon"]
    assert len(table.of("db")) == 1


def test_at_most_256_targets_per_assignment() -> None:
    urls = tuple(f"http://10.0.{i // 250}.{i % 250 + 1}:80" for i in range(300))
    table = table_from([site()], [assignment(urls=urls)])
    assert len(table.of("web")) == TARGETS_PER_ASSIGNMENT_MAX


def test_unnamed_ports_have_no_port_name() -> None:
    assert only(table_from([site()], [assignment(name=None)])).port_name is None


def test_an_unknown_application_has_no_targets() -> None:
    assert EMPTY.of("web") == () == Table.EMPTY.of("web")
    assert table_from([site()], [assignment()]).of("db") == ()
