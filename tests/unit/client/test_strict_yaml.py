"""``edgeplane.client.strict_yaml``: YAML from users read with bounds and JSON's types."""

from __future__ import annotations

import time

import pytest

from edgeplane.client.strict_yaml import YamlLimits, YamlRefused, load_documents


def laughs(levels: int, width: int = 9) -> str:
    text = "a0: &a0 [" + ",".join(['"lol"'] * width) + "]\n"
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]\n"
    return text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (laughs(9), "once its aliases are expanded"),
        ("a: &a [1]\nb: [" + ",".join(["*a"] * 101) + "]", "more than 100 aliases"),
        ("a: &a [*a]", "holds an alias of itself"),
        ("x: " + "[" * 100 + "]" * 100, "nested deeper than 64 levels"),
        ("a: 1\na: 2", "the key 'a' is given twice"),
        ("1: x", "a key must be a string"),
        ("t: !!binary aGk=", "tag:yaml.org,2002:binary"),
        ("s: !!set {a}", "tag:yaml.org,2002:set"),
        ("d: !!timestamp 2024-01-01", "tag:yaml.org,2002:timestamp"),
        ("p: !python/object:os.system x", "python/object"),
        ("n: 1e400", "not a finite number"),
        ("n: !!float .nan", "not a finite number"),
        ("i: !!int 0b101", "not an integer"),
        ("bad: [unclosed", "expected"),
    ],
    ids=[
        "billion-laughs",
        "alias-count",
        "self-alias",
        "depth",
        "duplicate-key",
        "int-key",
        "binary",
        "set",
        "timestamp",
        "python-tag",
        "overflow-float",
        "nan",
        "binary-int",
        "malformed",
    ],
)
def test_refused_with_the_reason(text: str, problem: str) -> None:
    started = time.monotonic()
    with pytest.raises(YamlRefused) as refused:
        load_documents(text)
    assert problem in refused.value.problem
    assert refused.value.line is not None
    assert time.monotonic() - started < 2


def test_limits_are_marked_as_limits() -> None:
    with pytest.raises(YamlRefused) as limited:
        load_documents(laughs(9))
    assert limited.value.limited
    with pytest.raises(YamlRefused) as malformed:
        load_documents("a: 1\na: 2")
    assert not malformed.value.limited


def test_types_are_yaml_1_2_core() -> None:
    text = (
        "yes: yes\nno: off\ndate: 2024-01-01\noctal: 010\nhex: 0x1f\no: 0o17\n"
        "f: 1.5\nexp: 2e3\nnull1: ~\nnull2: null\nt: true\nneg: -3\nnan: .nan\nmerge: {<<: x}"
    )
    assert load_documents(text) == [
        {
            "yes": "yes",
            "no": "off",
            "date": "2024-01-01",
            "octal": 10,
            "hex": 31,
            "o": 15,
            "f": 1.5,
            "exp": 2000.0,
            "null1": None,
            "null2": None,
            "t": True,
            "neg": -3,
            "nan": ".nan",
            "merge": {"<<": "x"},
        }
    ]


def test_documents_json_and_a_few_aliases_load() -> None:
    assert load_documents('{"a": [1, 2]}\n---\nb: &x {c: d}\ne: *x\n---\n') == [
        {"a": [1, 2]},
        {"b": {"c": "d"}, "e": {"c": "d"}},
        None,
    ]


def test_size_and_document_count_are_bounded() -> None:
    small = YamlLimits(max_bytes=100, max_documents=3)
    with pytest.raises(YamlRefused, match="larger than 100 bytes"):
        load_documents("a: " + "x" * 100, small)
    with pytest.raises(YamlRefused, match="more than 3 documents"):
        load_documents("a: 1\n---\na: 2\n---\na: 3\n---\na: 4\n", small)
    assert len(load_documents("a: 1\n---\na: 2\n---\na: 3\n", small)) == 3
