"""``spec.workload.process.secrets``: which Secrets a workload is given, and how."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.errors import InvalidObject
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.workloads import MAX_SECRET_USES, secret_env_name


def app(*uses: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {
            "workload": {"process": {"command": "x", "secrets": list(uses)}},
            "placement": {"mode": "EverySite"},
        },
    }


def test_a_use_round_trips() -> None:
    use = {"name": "db", "env": True, "envPrefix": "DB_", "files": True}
    wire = to_wire(validate_object(app(use)))
    assert wire["spec"]["workload"]["process"]["secrets"] == [use]


@pytest.mark.parametrize(
    ("use", "field"),
    [
        ({"name": "db"}, "set env: true, files: true, or both"),
        ({"name": "DB", "env": True}, "secrets[0].name"),
        ({"name": "db", "env": True, "envPrefix": "1X"}, "envPrefix"),
        ({"name": "db", "env": True, "envPrefix": "A-B"}, "envPrefix"),
        ({"name": "db", "env": "yes"}, "secrets[0].env"),
        ({"name": "db", "files": True, "mount": "/etc"}, "mount"),
    ],
    ids=repr,
)
def test_bad_uses_are_refused_naming_the_field(use: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidObject) as caught:
        validate_object(app(use))
    assert field in str(caught.value)


def test_a_secret_named_twice_or_too_many_are_refused() -> None:
    twice = {"name": "db", "env": True}
    with pytest.raises(InvalidObject, match="names a Secret twice"):
        validate_object(app(twice, twice))
    many = [{"name": f"s{i}", "env": True} for i in range(MAX_SECRET_USES + 1)]
    with pytest.raises(InvalidObject, match="secrets"):
        validate_object(app(*many))


@pytest.mark.parametrize(
    ("prefix", "key", "name"),
    [("DB_", "password", "DB_PASSWORD"), ("", "tls.key", "TLS_KEY"), ("X", "a-b", "XA_B")],
)
def test_env_names(prefix: str, key: str, name: str) -> None:
    assert secret_env_name(prefix, key) == name
