"""The site credential's table: what each request of a site needs."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from edgeplane.hub.authz import Check, Rule, narrowed_query, site_rule

API = "/api/v1alpha1"


@pytest.mark.parametrize(
    ("method", "path", "rule"),
    [
        ("GET", f"{API}/sites/s1", Rule(Check.OWN_SITE, "s1")),
        ("PATCH", f"{API}/sites/s1/status", Rule(Check.OWN_SITE, "s1")),
        ("PUT", f"{API}/sites/s1/status", Rule(Check.OWN_SITE, "s1")),
        ("GET", f"{API}/sites/s1/requests", Rule(Check.OWN_SITE, "s1")),
        ("POST", f"{API}/sites/s1/requests/abc", Rule(Check.OWN_SITE, "s1")),
        ("GET", f"{API}/assignments", Rule(Check.NARROW_LIST)),
        ("GET", f"{API}/assignments/web.s1", Rule(Check.OWN_ASSIGNMENT, "web.s1")),
        ("PATCH", f"{API}/assignments/web.s1/status", Rule(Check.OWN_ASSIGNMENT, "web.s1")),
        ("GET", f"{API}/artifacts/demo/1.0", Rule(Check.NAMED_ARTIFACT, "demo/1.0")),
        ("GET", f"{API}/artifacts/demo/1.0/content", Rule(Check.NAMED_ARTIFACT, "demo/1.0")),
        ("PUT", f"{API}/assignments/web.s1/status", Rule(Check.OWN_ASSIGNMENT, "web.s1")),
        ("GET", f"{API}/sites/s1/status", Rule(Check.DENY)),
        ("DELETE", f"{API}/sites/s1/status", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/", Rule(Check.DENY)),
        ("POST", f"{API}/sites/s1/requests", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/requests/abc", Rule(Check.DENY)),
        ("GET", f"{API}/artifacts/demo", Rule(Check.DENY)),
        ("GET", f"{API}/artifacts/demo/1.0/content/more", Rule(Check.DENY)),
        ("GET", f"{API}/assignments/web.s1/status", Rule(Check.DENY)),
        ("GET", f"{API}/applications/web/explain", Rule(Check.DENY)),
        ("POST", f"{API}/join", Rule(Check.DENY)),
        ("PUT", f"{API}/sites/s1", Rule(Check.DENY)),
        ("PATCH", f"{API}/sites/s1", Rule(Check.DENY)),
        ("DELETE", f"{API}/sites/s1", Rule(Check.DENY)),
        ("GET", f"{API}/sites", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/logs", Rule(Check.DENY)),
        ("PUT", f"{API}/assignments/web.s1", Rule(Check.DENY)),
        ("DELETE", f"{API}/assignments/web.s1", Rule(Check.DENY)),
        ("POST", f"{API}/assignments", Rule(Check.DENY)),
        ("GET", f"{API}/applications", Rule(Check.DENY)),
        ("GET", f"{API}/artifacts", Rule(Check.DENY)),
        ("PUT", f"{API}/artifacts/demo/1.0", Rule(Check.DENY)),
        ("POST", f"{API}/jointokens", Rule(Check.DENY)),
        ("GET", f"{API}", Rule(Check.DENY)),
        ("GET", "/metrics", Rule(Check.DENY)),
        ("GET", "/openapi.json", Rule(Check.DENY)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_site_rules(method: str, path: str, rule: Rule) -> None:
    assert site_rule(method, path) == rule


@pytest.mark.parametrize(
    ("query", "selector"),
    [
        (b"", "edgeplane.io/site=s1"),
        (b"watch=true&labelSelector=app%3Dx", "app=x,edgeplane.io/site=s1"),
        (b"labelSelector=edgeplane.io%2Fsite%3Ds2", "edgeplane.io/site=s2,edgeplane.io/site=s1"),
    ],
    ids=["none", "anded", "another-site-matches-nothing"],
)
def test_lists_are_narrowed_to_the_site(query: bytes, selector: str) -> None:
    narrowed = parse_qs(narrowed_query(query, "s1").decode())
    assert narrowed["labelSelector"] == [selector]
