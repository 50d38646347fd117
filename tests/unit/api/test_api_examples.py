"""Every manifest in examples/ validates and goes through the wire form unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeplane.api.validation import to_wire, validate_object

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def documents() -> list[tuple[str, Any]]:
    return [
        (path.name, doc)
        for path in EXAMPLES
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


@pytest.mark.parametrize(
    "doc",
    [d for _, d in documents()],
    ids=[f"{name}:{d['kind']}/{d['metadata']['name']}" for name, d in documents()],
)
def test_example_validates_and_round_trips(doc: dict[str, Any]) -> None:
    wire = to_wire(validate_object(doc))
    assert wire["spec"] == doc["spec"]
    assert to_wire(validate_object(wire)) == wire


def test_examples_cover_the_operator_kinds_without_clashing_names() -> None:
    docs = [d for _, d in documents()]
    assert {d["kind"] for d in docs} >= {"Site", "SiteGroup", "Application", "Policy"}
    keys = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys))
    modes = {d["spec"]["placement"]["mode"] for d in docs if d["kind"] == "Application"}
    assert modes == {"Replicas", "EverySite"}
