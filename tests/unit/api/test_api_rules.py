"""Names, labels, quantities and selectors by Kubernetes rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeplane.api.labels import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_label_key,
    check_label_value,
)
from edgeplane.api.quantity import Quantity, QuantityError, cpu_millis, memory_bytes
from edgeplane.api.selectors import (
    LabelSelector,
    Operator,
    Requirement,
    Selector,
    SelectorError,
    make_requirement,
    parse_selector,
)

NAMES = [
    ("simple", "web", True),
    ("digits", "123-abc", True),
    ("dotted", "eu.stores.web", True),
    ("upper", "Web", False),
    ("underscore", "my_app", False),
    ("leading-dash", "-web", False),
    ("trailing-dot", "web.", False),
    ("too-long", "a" * 254, False),
]


@pytest.mark.parametrize(("name", "valid"), [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_dns1123_subdomain(name: str, valid: bool) -> None:
    assert (check_dns1123_subdomain(name) is None) == valid


@pytest.mark.parametrize(
    ("name", "valid"),
    [("web", True), ("a" * 63, True), ("a" * 64, False), ("a.b", False)],
    ids=["simple", "max", "too-long", "dot"],
)
def test_dns1123_label(name: str, valid: bool) -> None:
    assert (check_dns1123_label(name) is None) == valid


KEYS = [
    ("plain", "region", True),
    ("prefixed", "topology.kubernetes.io/zone", True),
    ("mixed-case", "MyKey.v2_x", True),
    ("empty", "", False),
    ("empty-prefix", "/zone", False),
    ("empty-name", "example.com/", False),
    ("bad-prefix", "Example.com/zone", False),
    ("space", "bad key", False),
    ("name-too-long", "a" * 64, False),
]


@pytest.mark.parametrize(("key", "valid"), [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_label_keys(key: str, valid: bool) -> None:
    assert (check_label_key(key) is None) == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("eu-west", True),
        ("v1.2_3", True),
        ("a" * 64, False),
        ("-x", False),
        ("a b", False),
    ],
    ids=["empty", "plain", "punctuation", "too-long", "leading-dash", "space"],
)
def test_label_values(value: str, valid: bool) -> None:
    assert (check_label_value(value) is None) == valid


QUANTITIES = [
    ("millicores", "500m", Decimal("0.5"), 500, 1),
    ("cores", "2", Decimal(2), 2000, 2),
    ("mebibytes", "256Mi", Decimal(268435456), 268435456000, 268435456),
    ("exponent", "1e3", Decimal(1000), 1000000, 1000),
    ("fraction-gibi", "1.5Gi", Decimal(1610612736), 1610612736000, 1610612736),
    ("kilo", "1k", Decimal(1000), 1000000, 1000),
    ("number", 3, Decimal(3), 3000, 3),
    ("tiny-rounds-up", "0.0001", Decimal("0.0001"), 1, 1),
]


@pytest.mark.parametrize(
    ("text", "value", "millis", "size"), [q[1:] for q in QUANTITIES], ids=[q[0] for q in QUANTITIES]
)
def test_quantities(text: str | int, value: Decimal, millis: int, size: int) -> None:
    quantity = Quantity.parse(text)
    assert quantity.value == value
    assert str(quantity) == str(text)
    assert cpu_millis(quantity) == millis
    assert memory_bytes(quantity) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "negative"),
        ("abc", "not a quantity"),
        ("1Q", "not a quantity"),
        ("", "not a quantity"),
        ("1.2.3", "not a quantity"),
    ],
    ids=["negative", "word", "bad-suffix", "empty", "two-dots"],
)
def test_bad_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message):
        Quantity.parse(text)


LABELS = {"region": "eu", "tier": "edge"}
SELECTORS = [
    ("equals", "region=eu", True),
    ("double-equals", "region==eu", True),
    ("not-equals", "region!=eu", False),
    ("not-equals-missing-key", "zone!=a", True),
    ("in", "region in (us, eu)", True),
    ("notin", "tier notin (cloud)", True),
    ("notin-missing-key", "zone notin (a)", True),
    ("exists", "tier", True),
    ("not-exists", "!tier", False),
    ("not-exists-missing", "!zone", True),
    ("conjunction", "region=eu,tier in (cloud)", False),
    ("empty", "", True),
]


@pytest.mark.parametrize(
    ("text", "matches"), [s[1:] for s in SELECTORS], ids=[s[0] for s in SELECTORS]
)
def test_selector_strings(text: str, matches: bool) -> None:
    assert parse_selector(text).matches(LABELS) == matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("region in (", "unclosed"),
        ("a)", "unbalanced"),
        ("bad key=x", "cannot parse"),
        ("-x=y", "label key"),
        ("a in ()", "at least one value"),
        ("a=-x", "label value"),
    ],
    ids=["unclosed", "unbalanced", "space-in-key", "bad-key", "empty-set", "bad-value"],
)
def test_bad_selector_strings(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_selector(text)


def test_structured_selector() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"region": "eu"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["cloud"]}],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"region": "eu", "tier": "cloud"})
    assert LabelSelector().matches({})


@pytest.mark.parametrize(
    "raw",
    [
        {"key": "a", "operator": "Exists", "values": ["x"]},
        {"key": "a", "operator": "In"},
        {"key": "a", "operator": "Maybe"},
    ],
    ids=["exists-with-values", "in-without-values", "unknown-operator"],
)
def test_bad_structured_requirements(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LabelSelector.model_validate({"matchExpressions": [raw]})


keys = st.text("abcxyz019", min_size=1, max_size=8)
values = st.lists(st.text("abcXYZ0189", min_size=1, max_size=8), min_size=1, max_size=3)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(list(Operator)))
    needs_values = operator in (Operator.IN, Operator.NOT_IN)
    return make_requirement(draw(keys), operator, tuple(draw(values)) if needs_values else ())


@given(st.lists(requirements(), max_size=4))
def test_selector_string_round_trip(reqs: list[Requirement]) -> None:
    selector = Selector(tuple(reqs))
    assert parse_selector(str(selector)) == selector
