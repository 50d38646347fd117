"""CEL policies: compiling, evaluating, sorting by enforcement, caching by label set."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.governance.cache import PlacementGovernor
from edgeplane.governance.policies import (
    Enforcement,
    PolicyError,
    allowed_namespaces,
    compile_policy,
    judge,
    may_stay,
    policy_reason,
)


def policy(
    *expressions: str,
    scope: str = "Placement",
    enforcement: str = "Deny",
    selector: dict[str, Any] | None = None,
    name: str = "p",
    generation: int = 1,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scope": scope,
        "enforcement": enforcement,
        "rules": [{"name": f"r{i}", "expression": e} for i, e in enumerate(expressions)],
    }
    if selector:
        spec["selector"] = selector
    return {"metadata": {"name": name, "generation": generation}, "spec": spec}


def app(name: str = "web", generation: int = 1, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": generation, "labels": labels},
        "spec": {"resources": {"cpu": "500m"}, "placement": {"mode": "EverySite"}},
    }


EU = {"labels": {"jurisdiction": "eu", "tier": "edge"}}
US = {"labels": {"jurisdiction": "us", "tier": "edge"}}
BARE: dict[str, dict[str, str]] = {"labels": {}}


@pytest.mark.parametrize(
    ("expression", "site", "holds", "why"),
    [
        ('site.labels["jurisdiction"] == "eu"', EU, True, ""),
        ('site.labels["jurisdiction"] == "eu"', US, False, "does not hold"),
        ('site.labels["jurisdiction"] == "eu"', BARE, False, "evaluation error"),
        (
            '"jurisdiction" in site.labels && site.labels.jurisdiction == "eu"',
            BARE,
            False,
            "does not hold",
        ),
        ("has(app.spec.resources.cpu)", EU, True, ""),
        ("has(app.spec.resources.memory)", EU, False, "does not hold"),
        ("app.spec.placement.mode", EU, False, "not a boolean"),
        ('!(site.labels.tier == "cloud" && app.metadata.labels.tier == "edge")', EU, True, ""),
    ],
    ids=[
        "eu-site",
        "us-site",
        "missing-label",
        "guarded",
        "has",
        "has-not",
        "not-bool",
        "negation",
    ],
)
def test_a_rule_holds_or_says_why(
    expression: str, site: dict[str, Any], holds: bool, why: str
) -> None:
    verdict = judge([compile_policy(policy(expression))], app(tier="edge"), site)
    assert verdict.allowed is holds
    if not holds:
        assert why in verdict.denied[0].message


@pytest.mark.parametrize(
    ("expressions", "field", "needle"),
    [
        (["site.labels["], "spec.rules[0].expression", "Syntax error"),
        (["true", "app.spec. =="], "spec.rules[1].expression", "1:11"),
        (["nosuchvar == 1"], "spec.rules[0].expression", "undeclared reference"),
    ],
    ids=["syntax", "second-rule", "unknown-variable"],
)
def test_bad_rules_name_the_rule_and_quote_cel(
    expressions: list[str], field: str, needle: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(policy(*expressions))
    assert caught.value.field == field
    assert needle in caught.value.message


def test_enforcement_and_selector_sort_the_verdict() -> None:
    policies = [
        compile_policy(policy("false", name="deny", selector={"matchLabels": {"data": "pii"}})),
        compile_policy(policy("false", name="warn", enforcement="Warn")),
        compile_policy(policy("false", name="audit", enforcement="Audit")),
    ]
    plain = judge(policies, app(), EU)
    assert (
        plain.allowed,
        [v.policy for v in plain.warnings],
        [v.policy for v in plain.audits],
    ) == (
        True,
        ["warn"],
        ["audit"],
    )
    pii = judge(policies, app(data="pii"), EU)
    assert [v.policy for v in pii.denied] == ["deny"]
    assert pii.denied[0].enforcement is Enforcement.DENY


def test_verdicts_are_cached_per_label_set_and_revision() -> None:
    depends = 'site.labels["jurisdiction"] == "eu" || app.spec.resources.cpu == "9"'
    governor = PlacementGovernor([compile_policy(policy(depends))])
    for labels in [EU["labels"], US["labels"]] * 500:
        governor.verdict(app(), labels)
    assert governor.evaluations == 2
    governor.verdict(app(generation=2), EU["labels"])
    assert governor.evaluations == 3
    assert not governor.verdict(app(), US["labels"]).allowed
    assert governor.verdict(app(team="x"), US["labels"]) is not governor.verdict(
        app(), US["labels"]
    )
    assert governor.same_policies([compile_policy(policy(depends))])
    assert not governor.same_policies([compile_policy(policy("true", generation=2))])


def test_rules_without_app_are_evaluated_once_per_label_set() -> None:
    governor = PlacementGovernor([compile_policy(policy('site.labels["jurisdiction"] == "eu"'))])
    for i in range(100):
        for labels in (EU["labels"], US["labels"]):
            governor.verdict(app(f"app-{i}"), labels)
    assert governor.evaluations == 2
    assert not governor.verdict(app("app-7"), US["labels"]).allowed
    assert governor.verdict(app("app-7"), EU["labels"]).allowed


def test_rules_reading_only_app_labels_are_shared_by_label_sets() -> None:
    rule = (
        '!(site.labels["jurisdiction"] == "us" && "data" in app.metadata.labels'
        ' && app.metadata.labels["data"] == "pii")'
    )
    governor = PlacementGovernor([compile_policy(policy(rule))])
    for i in range(100):
        for labels in (EU["labels"], US["labels"]):
            governor.verdict(app(f"plain-{i}"), labels)
            governor.verdict(app(f"pii-{i}", data="pii"), labels)
    assert governor.evaluations == 4
    assert not governor.verdict(app("pii-3", data="pii"), US["labels"]).allowed
    assert governor.verdict(app("plain-3"), US["labels"]).allowed


def allowing(name: str, namespaces: list[str], scope: str = "Admission", **selector: str) -> Any:
    obj = policy(scope=scope, name=name, selector={"matchLabels": selector} if selector else None)
    obj["spec"]["kubernetes"] = {"allowedNamespaces": namespaces}
    return compile_policy(obj)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "ops"}, {"shared", "monitoring", "logs"}),
        ({"team": "shop"}, {"shared"}),
        ({}, {"shared"}),
    ],
    ids=["two-policies-cover", "one-covers", "no-labels"],
)
def test_allowed_namespaces_are_the_union_of_the_covering_admission_policies(
    labels: dict[str, str], expected: set[str]
) -> None:
    policies = [
        allowing("everyone", ["shared"]),
        allowing("ops", ["monitoring", "logs"], team="ops"),
        compile_policy(policy("true", scope="Placement")),  # says nothing about namespaces
    ]
    assert allowed_namespaces(policies, app("web", 1, **labels)) == expected


@pytest.mark.parametrize(
    ("may_stay", "held", "excluded"),
    [(False, False, True), (False, True, True), (True, False, True), (True, True, False)],
    ids=["move-new", "move-held-leaves", "report-new", "report-held-stays"],
)
def test_a_held_site_stays_only_where_every_violated_policy_reports(
    may_stay: bool, held: bool, excluded: bool
) -> None:
    why = "excluded by policy p"
    assert policy_reason((why, may_stay), held) == (why if excluded else None)
    assert policy_reason((None, may_stay), held) is None  # nothing violated: never excluded


@pytest.mark.parametrize(
    ("on_violation", "expected"),
    [(("Report",), True), (("Move",), False), (("Report", "Move"), False), ((), True)],
    ids=["report", "move", "one-moves", "none-violated"],
)
def test_may_stay_when_every_violated_policy_says_report(
    on_violation: tuple[str, ...], expected: bool
) -> None:
    compiled = []
    for i, how in enumerate(on_violation):
        raw = policy("false", name=f"p{i}")
        raw["spec"]["onViolation"] = how
        compiled.append(compile_policy(raw))
    assert may_stay(compiled) is expected
