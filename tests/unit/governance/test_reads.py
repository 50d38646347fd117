"""What a policy's rules read (``reads``), and the sharing it buys ``PlacementGovernor``:
evaluations per projection, never per label set, with the same answers as judging
every policy for every label set."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edgeplane.governance.cache import PlacementGovernor
from edgeplane.governance.policies import CompiledPolicy, compile_policy, judge
from edgeplane.governance.reads import project, reads
from tests.unit.governance.test_policies import policy as raw_policy

# -- reads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "site"),
    [
        ('site.labels["k"] == "a"', {"k"}),
        ("site.labels['k'] == 'a'", {"k"}),
        ('site.labels [ "k" ] == "a"', {"k"}),
        ('site.labels["topology.io/zone"] == "a"', {"topology.io/zone"}),
        ('site.labels.k == "a"', {"k"}),
        ('site.labels.k.startsWith("a")', {"k"}),
        ('"k" in site.labels', {"k"}),
        ("'k' in site.labels", {"k"}),
        ("has(site.labels.k)", {"k"}),
        ('"k" in site.labels && site.labels.k == "a" || site.labels["j"] == "b"', {"k", "j"}),
        ("true", set()),
        ('app.metadata.labels["d"] == "x"', set()),
        ('site.labels.all(k, k != "x")', None),
        ("site.labels.all (k, true)", None),
        ('site.labels.exists(k, k == "x")', None),
        ("site.labels.size() > 0", None),
        ("site.labels[k]", None),
        ('site.labels["a" + "b"] == "c"', None),
        ('site["labels"]["k"] == "a"', None),
        ("has(site.labels)", None),
        ("site == {}", None),
    ],
    ids=[
        "index-double-quotes",
        "index-single-quotes",
        "index-spaces",
        "index-prefixed-key",
        "field",
        "field-then-method",
        "in-double-quotes",
        "in-single-quotes",
        "has",
        "several-forms",
        "no-site",
        "app-only",
        "all-macro",
        "all-macro-spaced",
        "exists-macro",
        "size",
        "index-by-variable",
        "index-by-expression",
        "site-as-map",
        "has-labels",
        "site-itself",
    ],
)
def test_site_keys_read(expression: str, site: set[str] | None) -> None:
    found = reads([expression])
    assert found.site == (None if site is None else frozenset(site))


@pytest.mark.parametrize(
    ("expression", "app", "at_all"),
    [
        ('app.metadata.labels["d"] == "x"', {"d"}, True),
        ("app.metadata.labels['d'] == 'x'", {"d"}, True),
        ('app.metadata.labels.d == "x"', {"d"}, True),
        ('"d" in app.metadata.labels', {"d"}, True),
        ("has(app.metadata.labels.d)", {"d"}, True),
        ('site.labels["k"] == "a"', set(), False),
        ("true", set(), False),
        ("has(app.spec.resources.cpu)", None, True),
        ('app.metadata.name == "web"', None, True),
        ("app.metadata.labels.size() == 0", None, True),
        ('app.metadata.labels.all(k, k != "x")', None, True),
        ('site.labels["k"] == app.metadata.labels.k', {"k"}, True),
    ],
    ids=[
        "index-double-quotes",
        "index-single-quotes",
        "field",
        "in",
        "has",
        "site-only",
        "nothing",
        "spec",
        "name",
        "size",
        "all-macro",
        "site-and-app",
    ],
)
def test_app_keys_read(expression: str, app: set[str] | None, at_all: bool) -> None:
    found = reads([expression])
    assert found.app == (None if app is None else frozenset(app))
    assert found.app_at_all is at_all


def test_any_rule_reading_everything_makes_the_policy_read_everything() -> None:
    found = reads(['site.labels["k"] == "a"', "site.labels.size() > 1"])
    assert found.site is None
    assert reads(['site.labels["k"] == "a"', 'site.labels.j == "b"']).site == frozenset({"k", "j"})


@pytest.mark.parametrize(
    ("labels", "keys", "expected"),
    [
        ({"k": "a", "j": "b"}, frozenset({"k"}), {("k", "a")}),
        ({"j": "b"}, frozenset({"k"}), set()),
        ({"k": "a", "j": "b"}, None, {("k", "a"), ("j", "b")}),
        ({"k": "a"}, frozenset(), set()),
    ],
    ids=["one-key", "key-missing", "everything", "nothing"],
)
def test_project(
    labels: dict[str, str], keys: frozenset[str] | None, expected: set[tuple[str, str]]
) -> None:
    assert project(labels, keys) == expected


# -- the governor ---------------------------------------------------------------------


def policy(
    name: str,
    *expressions: str,
    enforcement: str = "Deny",
    scope: str = "Placement",
    selector: dict[str, Any] | None = None,
) -> CompiledPolicy:
    return compile_policy(
        raw_policy(*expressions, scope=scope, enforcement=enforcement, selector=selector, name=name)
    )


def app(name: str = "web", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1, "labels": labels},
        "spec": {"resources": {"cpu": "500m"}},
    }


def test_a_rule_on_one_key_is_evaluated_once_per_value() -> None:
    governor = PlacementGovernor([policy("eu-only", 'site.labels["jurisdiction"] == "eu"')])
    label_sets = [
        {"jurisdiction": "eu" if i % 2 else "us", "rack": str(i), "tier": "edge"}
        for i in range(100)
    ]
    found = governor.denials(app(), label_sets)
    assert governor.evaluations == 2
    assert found == [() if i % 2 else ("eu-only",) for i in range(100)]
    governor.denials(app("other"), label_sets)  # reads no app: shared between applications
    assert governor.evaluations == 2


def test_a_rule_on_app_labels_is_evaluated_per_projection_pair() -> None:
    governor = PlacementGovernor(
        [policy("match", 'site.labels["jurisdiction"] == app.metadata.labels["data"]')]
    )
    label_sets = [{"jurisdiction": j, "rack": str(i)} for i, j in enumerate(["eu", "us"] * 20)]
    assert governor.denials(app("a", data="eu"), label_sets)[:2] == [(), ("match",)]
    assert governor.denials(app("b", data="eu", team="x"), label_sets)[:2] == [(), ("match",)]
    assert governor.evaluations == 2
    assert governor.denials(app("c", data="us"), label_sets)[:2] == [("match",), ()]
    assert governor.evaluations == 4


def test_a_rule_reading_everything_is_evaluated_per_label_set() -> None:
    governor = PlacementGovernor([policy("small", "site.labels.size() < 3")])
    label_sets = [{"a": "1"}, {"a": "1", "b": "2", "c": "3"}, {"a": "1"}, {"a": "2"}]
    assert governor.denials(app(), label_sets) == [(), ("small",), (), ()]
    assert governor.evaluations == 3


def test_warnings_admission_and_uncovered_apps_deny_nothing() -> None:
    governor = PlacementGovernor(
        [
            policy("warn", "false", enforcement="Warn"),
            policy("admission", "false", scope="Admission"),
            policy("for-db", "false", selector={"matchLabels": {"kind": "db"}}),
        ]
    )
    assert governor.denials(app(kind="web"), [{"a": "1"}, {}]) == [(), ()]
    assert governor.denials(app(kind="db"), [{"a": "1"}, {}]) == [("for-db",), ("for-db",)]


@pytest.mark.parametrize(
    ("expressions", "app_keys", "app_at_all"),
    [
        (("true",), frozenset(), False),
        (('site.labels["k"] == "a"',), frozenset(), False),
        (('app.metadata.labels["d"] == "x"',), frozenset({"d"}), True),
        (('app.metadata.labels["d"] == "x"', "has(app.spec.resources)"), None, True),
    ],
    ids=["none", "site-only", "labels", "spec"],
)
def test_what_of_the_app_a_policy_reads(
    expressions: tuple[str, ...], app_keys: frozenset[str] | None, app_at_all: bool
) -> None:
    found = reads(expressions)
    assert (found.app, found.app_at_all) == (app_keys, app_at_all)


RULES = [
    'site.labels["region"] == "eu"',
    "site.labels.tier != 'cloud'",
    '!("gpu" in site.labels) || app.metadata.labels["gpu"] == "yes"',
    "has(site.labels.region) && site.labels.region == app.metadata.labels.region",
    "site.labels.size() <= 2",
    'site.labels.all(k, k != "legacy")',
    'has(app.spec.resources.cpu) && site.labels["tier"] == "edge"',
    'app.metadata.name != "blocked"',
]
LABELS = {
    "region": ["eu", "us"],
    "tier": ["edge", "cloud"],
    "gpu": ["a100"],
    "legacy": ["yes"],
    "rack": ["1", "2", "3"],
}


@st.composite
def label_sets(draw: st.DrawFn) -> list[dict[str, str]]:
    keys = st.sampled_from(sorted(LABELS))
    return [
        {k: draw(st.sampled_from(LABELS[k])) for k in draw(st.sets(keys))}
        for _ in range(draw(st.integers(0, 12)))
    ]


@st.composite
def policies(draw: st.DrawFn) -> list[CompiledPolicy]:
    found = []
    for i in range(draw(st.integers(1, 4))):
        rules = draw(st.lists(st.sampled_from(RULES), min_size=1, max_size=2))
        enforcement = draw(st.sampled_from(["Deny", "Deny", "Warn", "Audit"]))
        selector = draw(st.sampled_from([None, {"matchLabels": {"team": "a"}}]))
        found.append(policy(f"p{i}", *rules, enforcement=enforcement, selector=selector))
    return found


@st.composite
def apps(draw: st.DrawFn) -> dict[str, Any]:
    labels = {
        k: draw(st.sampled_from(values))
        for k, values in {"team": ["a", "b"], "region": ["eu", "us"], "gpu": ["yes", "no"]}.items()
        if draw(st.booleans())
    }
    return app(draw(st.sampled_from(["web", "blocked"])), **labels)


@settings(max_examples=100, deadline=None)
@given(policies(), st.lists(apps(), min_size=1, max_size=3), label_sets())
def test_denials_equal_judging_every_policy_per_label_set(
    compiled: list[CompiledPolicy], wanted: list[dict[str, Any]], sets: list[dict[str, str]]
) -> None:
    governor = PlacementGovernor(compiled)
    for one in wanted:  # several applications against one governor: what is shared holds
        found = governor.denials(one, sets)
        expected = [
            tuple(sorted({v.policy for v in judge(compiled, one, {"labels": s}).denied}))
            for s in sets
        ]
        assert found == expected
        for s, denied in zip(sets, found, strict=True):
            verdict = governor.verdict(one, s)
            assert tuple(sorted({v.policy for v in verdict.denied})) == denied


@settings(max_examples=100, deadline=None)
@given(policies(), apps(), apps(), label_sets())
def test_applications_with_equal_keys_get_equal_denials(
    compiled: list[CompiledPolicy],
    first: dict[str, Any],
    second: dict[str, Any],
    sets: list[dict[str, str]],
) -> None:
    governor = PlacementGovernor(compiled)
    assume(governor.key(first) == governor.key(second))
    assert governor.denials(first, sets) == governor.denials(second, sets)
