"""The site credential's table: what each request of a site needs."""

from __future__ import annotations

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.hub.authz import Check, Rule, narrowed, site_requirement, site_rule

API = "/api/v1alpha1"


@pytest.mark.parametrize(
    ("method", "path", "rule"),
    [
        ("GET", f"{API}/sites/s1", Rule(Check.OWN_SITE, "s1")),
        ("PATCH", f"{API}/sites/s1/status", Rule(Check.OWN_SITE, "s1")),
        ("PUT", f"{API}/sites/s1/status", Rule(Check.OWN_SITE, "s1")),
        ("GET", f"{API}/sites/s1/requests", Rule(Check.OWN_SITE, "s1")),
        ("POST", f"{API}/sites/s1/requests/abc", Rule(Check.OWN_SITE, "s1")),
        ("GET", f"{API}/sites/s1/stream", Rule(Check.OWN_SITE, "s1")),
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
        ("POST", f"{API}/sites/s1/stream", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/stream/more", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/stream\n", Rule(Check.DENY)),
        ("GET", f"{API}/artifacts/demo", Rule(Check.DENY)),
        ("GET", f"{API}/artifacts/demo/1.0/content/more", Rule(Check.DENY)),
        ("GET", f"{API}/assignments/web.s1/status", Rule(Check.DENY)),
        ("GET", f"{API}/applications/web/explain", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/secrets/db", Rule(Check.NAMED_SECRET, "db", "s1")),
        # Kept whole: "db\n" is no Secret's name, so no assignment names it.
        ("GET", f"{API}/sites/s1/secrets/db\n", Rule(Check.NAMED_SECRET, "db\n", "s1")),
        ("POST", f"{API}/sites/s1/secrets/db", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/secrets", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/secrets/db/more", Rule(Check.DENY)),
        ("GET", f"{API}/secrets/db", Rule(Check.DENY)),
        ("GET", f"{API}/sites/s1/endpoints", Rule(Check.OWN_SITE, "s1")),
        ("POST", f"{API}/sites/s1/endpoints", Rule(Check.DENY)),
        ("GET", f"{API}/applications/web/endpoints", Rule(Check.DENY)),
        ("POST", f"{API}/applications/web/metrics", Rule(Check.DENY)),
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
    ("given", "labels", "matches"),
    [
        ("", {"edgeplane.io/site": "s1"}, True),
        ("app=x", {"edgeplane.io/site": "s1", "app": "x"}, True),
        ("app=x", {"edgeplane.io/site": "s1", "app": "y"}, False),
        ("edgeplane.io/site=s2", {"edgeplane.io/site": "s2"}, False),
        ("edgeplane.io/site in (s1,s2)", {"edgeplane.io/site": "s2"}, False),
        ("!edgeplane.io/site", {}, False),
    ],
    ids=["none", "anded", "anded-other", "another-site", "a-set-with-ours", "absent"],
)
def test_lists_are_narrowed_to_the_site(given: str, labels: dict[str, str], matches: bool) -> None:
    assert narrowed(parse_selector(given), site_requirement("s1")).matches(labels) is matches


@pytest.mark.parametrize("subject", ["s1\n", "s1 ", "s1,edgeplane.io/site=s2", "s1)"], ids=repr)
def test_a_subject_is_matched_whole_never_parsed(subject: str) -> None:
    """Whatever a credential's subject holds, it matches only a site of that very name."""
    selector = narrowed(parse_selector(""), site_requirement(subject))
    assert not selector.matches({"edgeplane.io/site": "s1"})
    assert not selector.matches({"edgeplane.io/site": "s2"})
    assert selector.matches({"edgeplane.io/site": subject})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/assignments\n"),
        ("PUT", f"{API}/sites/s1/status\n"),
        ("PATCH", f"{API}/assignments/a/status\n"),
    ],
    ids=repr,
)
def test_paths_with_a_final_newline_are_denied(method: str, path: str) -> None:
    assert site_rule(method, path) == Rule(Check.DENY)
