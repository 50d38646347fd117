"""Label selectors in both spellings: parsing, matching, and the string round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeplane.api.selectors import (
    LabelSelector,
    Operator,
    Requirement,
    Selector,
    SelectorError,
    make_requirement,
    parse_selector,
    selector_from_dict,
)

LABELS = {"region": "eu", "tier": "edge", "example.com/owner": "retail.v2"}
SELECTORS = [
    ("equals", "region=eu", True),
    ("double-equals", "region==eu", True),
    ("equals-other", "region=us", False),
    ("not-equals", "region!=eu", False),
    ("not-equals-missing-key", "zone!=a", True),
    ("in", "region in (us, eu)", True),
    ("in-miss", "region in (us,ap)", False),
    ("notin", "tier notin (cloud)", True),
    ("notin-hit", "tier notin (cloud,edge)", False),
    ("notin-missing-key", "zone notin (a)", True),
    ("exists", "tier", True),
    ("exists-missing", "zone", False),
    ("not-exists", "!tier", False),
    ("not-exists-missing", "!zone", True),
    ("conjunction", "region=eu,tier in (cloud)", False),
    ("conjunction-all-hold", "region=eu,tier in (cloud,edge),!zone", True),
    ("prefixed-key", "example.com/owner=retail.v2", True),
    ("prefixed-not-exists", "!example.com/owner", False),
    ("spaces", "  region =  eu , tier  ", True),
    ("empty-value", "zone=", False),
    ("empty-value-in-set", "tier in (,edge)", True),
    ("empty-value-in-set-miss", "tier in (,cloud)", False),
    ("empty", "", True),
    ("blank", "   ", True),
]


@pytest.mark.parametrize(
    ("text", "matches"), [s[1:] for s in SELECTORS], ids=[s[0] for s in SELECTORS]
)
def test_selector_strings(text: str, matches: bool) -> None:
    assert parse_selector(text).matches(LABELS) == matches


def test_none_and_empty_select_everything() -> None:
    assert parse_selector(None).empty and parse_selector("").matches(None)


BAD_STRINGS = [
    ("unclosed", "region in (", "unclosed"),
    ("unbalanced", "a)", "unbalanced"),
    ("space-in-key", "bad key=x", "cannot parse"),
    ("bad-key", "-x=y", "label key"),
    ("empty-set", "a in ()", "at least one value"),
    ("empty-notin", "a notin ()", "at least one value"),
    ("bad-value", "a=-x", "label value"),
    ("space-in-set-value", "a in (b c)", "label value"),
    ("no-key", "=b", "cannot parse"),
    ("two-equals", "a=b=c", "cannot parse"),
    ("negated-equality", "!a=b", "cannot parse"),
    ("set-without-parens", "a in b", "cannot parse"),
    ("empty-term", "a,,b", "cannot parse"),
    ("trailing-comma", "a,", "cannot parse"),
    ("space-in-value", "a=b c", "cannot parse"),
    ("long-key", "a" * 64 + "=b", "63"),
]


@pytest.mark.parametrize(
    ("text", "message"), [b[1:] for b in BAD_STRINGS], ids=[b[0] for b in BAD_STRINGS]
)
def test_bad_selector_strings(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_selector(text)


def expr(operator: str, *values: str, key: str = "tier") -> dict[str, object]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


STRUCTURED = [
    ("match-labels", {"matchLabels": {"region": "eu"}}, "region=eu"),
    ("in", expr("In", "b", "a"), "tier in (a,b)"),
    ("not-in", expr("NotIn", "a"), "tier!=a"),
    ("exists", expr("Exists"), "tier"),
    ("does-not-exist", expr("DoesNotExist"), "!tier"),
    ("both", {"matchLabels": {"b": "1", "a": "2"}, **expr("Exists", key="c")}, "a=2,b=1,c"),
    ("empty", {}, ""),
]


@pytest.mark.parametrize(
    ("raw", "text"), [s[1:] for s in STRUCTURED], ids=[s[0] for s in STRUCTURED]
)
def test_structured_selector_equals_its_string_form(raw: dict[str, object], text: str) -> None:
    selector = selector_from_dict(raw)
    assert str(selector) == text
    assert selector == parse_selector(text)


def test_structured_selector_matches() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"region": "eu"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["cloud"]}],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"region": "eu", "tier": "cloud"})
    assert LabelSelector().matches({})


def test_structured_selector_wire_form_leaves_out_empty_parts() -> None:
    raw = {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert LabelSelector.model_validate(raw).model_dump(mode="json", by_alias=True) == raw
    assert LabelSelector().model_dump(by_alias=True) == {}


@pytest.mark.parametrize(
    "raw",
    [
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Maybe"}]},
        {"matchExpressions": [{"key": "a b", "operator": "Exists"}]},
        {"matchLabels": {"a": "b c"}},
        {"matchLabels": {"a": "b"}, "matchLabel": {}},
    ],
    ids=[
        "exists-with-values",
        "in-without-values",
        "unknown-operator",
        "bad-key",
        "bad-value",
        "unknown-field",
    ],
)
def test_bad_structured_selectors(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        LabelSelector.model_validate(raw)


names = st.from_regex(r"[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,6}[a-zA-Z0-9])?", fullmatch=True)
prefixes = st.sampled_from(["", "example.com/", "edgeplane.io/"])
keys = st.builds(lambda prefix, name: prefix + name, prefixes, names)
values = st.lists(st.one_of(names, st.just("")), min_size=1, max_size=3)
label_maps = st.dictionaries(keys, st.one_of(names, st.just("")), max_size=4)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(list(Operator)))
    needs_values = operator in (Operator.IN, Operator.NOT_IN)
    return make_requirement(draw(keys), operator, tuple(draw(values)) if needs_values else ())


@given(st.lists(requirements(), max_size=4), label_maps)
def test_selector_string_round_trip(reqs: list[Requirement], labels: dict[str, str]) -> None:
    selector = Selector(tuple(reqs))
    again = parse_selector(str(selector))
    assert again == selector
    assert again.matches(labels) == selector.matches(labels)
