"""CEL cost estimates (``governance.costs``) and the limits at compile and evaluation
time (``governance.policies``)."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.governance import policies
from edgeplane.governance.costs import INPUT_BYTES, MAX_RULE_COST, estimate
from edgeplane.governance.policies import PolicyError, compile_policy, compile_rule, evaluate


def numbers(n: int) -> str:
    return "[" + ",".join(str(i) for i in range(n)) + "]"


def cost(expression: str) -> int:
    return compile_rule({"name": "r", "expression": expression}, "r", False).cost


@pytest.mark.parametrize(
    ("expression", "low", "high"),
    [
        ('site.labels["jurisdiction"] == "eu"', 1, 1_000),
        ('"gpu" in site.labels', 1, 1_000),
        ('site.labels.all(k, k.startsWith("x"))', 1_000, 1_000_000),
        ('app.metadata.name.matches("^web-[a-z]+$")', INPUT_BYTES, 2 * INPUT_BYTES),
        ("has(app.spec.x) && app.spec.x.size() < 3", 1, 100),
        (
            f"{numbers(1000)}.all(x, {numbers(1000)}.all(y, {numbers(1000)}.all(z, z >= 0)))",
            MAX_RULE_COST,
            None,
        ),
        ('app.l.all(i, !app.s.matches("(x+x+)+y"))', MAX_RULE_COST, None),
        ("app.l.map(x, app.s + app.s).size() > 0", MAX_RULE_COST, None),
    ],
    ids=[
        "label",
        "in-labels",
        "all-labels",
        "matches-app-string",
        "has-size",
        "nested-literals",
        "matches-in-a-loop",
        "concat-in-a-loop",
    ],
)
def test_estimates_bound_what_a_rule_can_touch(expression: str, low: int, high: int | None) -> None:
    found = cost(expression)
    assert found >= low
    if high is not None:
        assert found <= high


def test_the_estimate_multiplies_nested_comprehensions_up_to_the_iteration_budget() -> None:
    one, two = (
        cost(f"{numbers(50)}.all(x, x >= 0)"),
        cost(f"{numbers(50)}.all(x, {numbers(50)}.all(y, x + y >= 0))"),
    )
    assert two > 20 * one


def policy(expression: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "generation": 1},
        "spec": {"scope": "Placement", "rules": [{"name": "r", "expression": expression}]},
    }


def test_a_costly_rule_is_refused_with_its_estimate_and_the_limit() -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(policy(f"{numbers(3000)}.all(x, {numbers(3000)}.all(y, x + y >= 0))"))
    assert caught.value.field == "spec.rules[0].expression"
    assert caught.value.cost is not None and caught.value.cost > MAX_RULE_COST
    assert f"{caught.value.cost:,}" in caught.value.message
    assert f"{MAX_RULE_COST:,}" in caught.value.message


def test_a_stored_costly_rule_fails_without_being_evaluated() -> None:
    compiled = compile_policy(policy('app.l.all(i, app.s.matches("x"))'), refuse_costly=False)
    app = {"metadata": {"name": "a"}, "l": list(range(10)), "s": "x"}
    [violation] = evaluate(compiled, app)
    assert "not evaluated: its estimated cost" in violation.message


def test_a_rule_past_the_iteration_budget_is_a_failed_evaluation() -> None:
    compiled = compile_policy(policy(f"{numbers(200)}.all(x, {numbers(200)}.all(y, x >= 0))"))
    [violation] = evaluate(compiled, {"metadata": {"name": "a"}})
    assert "Iteration budget exceeded" in violation.message


def test_a_slow_rule_fails_then_and_every_later_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policies, "RULE_SECONDS", 0.0)  # every evaluation is "too slow"
    compiled = compile_policy(policy("app.metadata.name == 'a'"))
    app = {"metadata": {"name": "a"}}
    [first] = evaluate(compiled, app)
    assert "evaluation stopped: an evaluation took" in first.message
    monkeypatch.setattr(policies, "RULE_SECONDS", 10.0)
    [again] = evaluate(compiled, app)  # not evaluated again, although it would be quick
    assert "not evaluated: an evaluation took" in again.message


def test_estimates_are_positive_for_plain_constants() -> None:
    compiled = compile_rule({"name": "r", "expression": "true"}, "r")
    assert 1 <= estimate(compiled.program.serialize()) < 10
