"""Names, labels and quantities by Kubernetes rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from edgeplane.api.labels import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_label_key,
    check_label_value,
)
from edgeplane.api.quantity import (
    Quantity,
    QuantityError,
    QuantityField,
    cpu_millis,
    memory_bytes,
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
    ("zero", "0", Decimal(0), 0, 0),
    ("plus-sign", "+1", Decimal(1), 1000, 1),
    ("leading-dot", ".5", Decimal("0.5"), 500, 1),
    ("trailing-dot", "5.", Decimal(5), 5000, 5),
    ("upper-exponent", "1E3", Decimal(1000), 1000000, 1000),
    ("negative-exponent", "25e-2", Decimal("0.25"), 250, 1),
    ("exa", "1E", Decimal(10**18), 10**21, 10**18),
    ("exbi", "2Ei", Decimal(2**61), 2**61 * 1000, 2**61),
    ("mega", "1.5M", Decimal(1500000), 1500000000, 1500000),
    ("tera", "2T", Decimal(2 * 10**12), 2 * 10**15, 2 * 10**12),
    ("kibi", "1Ki", Decimal(1024), 1024000, 1024),
    ("tebi", "1Ti", Decimal(2**40), 2**40 * 1000, 2**40),
    ("nano", "100n", Decimal("1e-7"), 1, 1),
    ("float", 0.25, Decimal("0.25"), 250, 1),
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
        ("-500m", "negative"),
        ("-1Gi", "negative"),
        ("1 Mi", "not a quantity"),
        ("Mi", "not a quantity"),
        ("1mi", "not a quantity"),
        ("1KI", "not a quantity"),
        ("1e", "not a quantity"),
        ("1e3.5", "not a quantity"),
        ("0x10", "not a quantity"),
        ("1Kib", "not a quantity"),
        ("nan", "not a quantity"),
        ("inf", "not a quantity"),
        ("1e999999999", "too large"),
        ("10Ei", "too large"),
    ],
    ids=[
        "negative",
        "word",
        "bad-suffix",
        "empty",
        "two-dots",
        "negative-millis",
        "negative-gibi",
        "space",
        "suffix-only",
        "lower-binary",
        "upper-binary",
        "bare-exponent",
        "fraction-exponent",
        "hex",
        "long-suffix",
        "nan",
        "inf",
        "huge-exponent",
        "over-int64",
    ],
)
def test_bad_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message):
        Quantity.parse(text)


def test_quantities_compare_by_value_and_keep_their_text() -> None:
    gibi, bytes_, small = Quantity.parse("1Gi"), Quantity.parse("1073741824"), Quantity.parse("1M")
    assert gibi == bytes_ and hash(gibi) == hash(bytes_)
    assert small < gibi <= bytes_ and max(small, gibi) is gibi
    assert (str(gibi), str(bytes_), repr(small)) == ("1Gi", "1073741824", "Quantity('1M')")
    assert sorted([gibi, small]) == [small, gibi]


class Limits(BaseModel):
    cpu: QuantityField
    memory: QuantityField | None = None


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        ({"cpu": "500m", "memory": "1Gi"}, {"cpu": "500m", "memory": "1Gi"}),
        ({"cpu": 2}, {"cpu": "2", "memory": None}),
        ({"cpu": 0.5}, {"cpu": "0.5", "memory": None}),
    ],
    ids=["strings", "int", "float"],
)
def test_quantity_fields_serialize_as_text(raw: dict[str, object], wire: dict[str, object]) -> None:
    limits = Limits.model_validate(raw)
    assert limits.model_dump(mode="json") == wire
    assert Limits.model_validate(limits.model_dump(mode="json")) == limits


@pytest.mark.parametrize("raw", [True, None, [1], "-1"], ids=["bool", "none", "list", "negative"])
def test_quantity_fields_reject_non_quantities(raw: object) -> None:
    with pytest.raises(ValidationError, match=r"quantit|negative"):
        Limits.model_validate({"cpu": raw})
