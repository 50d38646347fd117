"""Hostile strings and numbers against every validator of ``edgeplane.api``.

Each pattern-checked string is fully matched: a valid value spoiled by a control
character (anywhere), a unicode digit, or trailing whitespace must be refused, because
``re.match`` with ``$`` accepts a final newline and ``str.isdigit`` accepts '٣' and '²'.
Integers are strict and int32-bounded; status fields are bounded in length and count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from edgeplane.api import meta, workloads
from edgeplane.api.labels import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_label_key,
    check_label_value,
)
from edgeplane.api.quantity import Quantity, QuantityError
from edgeplane.api.validation import InvalidObject, validate_object
from tests.support.builders import changed, good


def _accepts_check(check: Callable[[str], str | None]) -> Callable[[str], bool]:
    return lambda value: check(value) is None


def _accepts_type(annotation: Any) -> Callable[[str], bool]:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def accepts(value: str) -> bool:
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    return accepts


def _accepts_quantity(value: str) -> bool:
    try:
        Quantity.parse(value)
    except QuantityError:
        return False
    return True


def _accepts_max_unavailable(value: str) -> bool:
    app = changed(good("Application"), "spec.rollout", {"maxUnavailable": value})
    try:
        validate_object(app)
    except InvalidObject:
        return False
    return True


# Every pattern-checked string of the API: its name, one valid value, and a predicate.
PATTERNED: list[tuple[str, str, Callable[[str], bool]]] = [
    ("dns1123-label", "web-1", _accepts_check(check_dns1123_label)),
    ("dns1123-subdomain", "eu.web-1", _accepts_check(check_dns1123_subdomain)),
    ("label-key", "topology.io/zone1", _accepts_check(check_label_key)),
    ("label-value", "eu-west1", _accepts_check(check_label_value)),
    ("object-name", "store-0042", _accepts_type(meta.ObjectName)),
    ("label-key-type", "region1", _accepts_type(meta.LabelKey)),
    ("label-value-type", "eu1", _accepts_type(meta.LabelValue)),
    ("annotation-key", "example.com/note1", _accepts_type(meta.AnnotationKey)),
    ("resource-version", "42", _accepts_check(meta.check_resource_version)),
    ("quantity", "500m", _accepts_quantity),
    ("quantity-exponent", "1e3", _accepts_quantity),
    ("artifact-name", "shelf-vision2", _accepts_type(workloads.ArtifactName)),
    ("artifact-version", "1.4.2", _accepts_type(workloads.ArtifactVersion)),
    ("sha256", "0" * 64, _accepts_type(workloads.Sha256)),
    ("env-name", "MY_VAR1", _accepts_type(workloads.EnvName)),
    ("port-name", "http2", _accepts_type(workloads.PortName)),
    ("max-unavailable", "10%", _accepts_max_unavailable),
]
IDS = [p[0] for p in PATTERNED]

CONTROLS = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.characters(
    min_codepoint=0x7F, max_codepoint=0x9F
)
UNICODE_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())
WHITESPACE = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2028"])


@pytest.mark.parametrize(("what", "valid", "accepts"), PATTERNED, ids=IDS)
def test_the_valid_example_is_accepted(
    what: str, valid: str, accepts: Callable[[str], bool]
) -> None:
    assert accepts(valid), what


@pytest.mark.parametrize(("what", "valid", "accepts"), PATTERNED, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_control_character_anywhere_is_refused(
    what: str, valid: str, accepts: Callable[[str], bool], data: st.DataObject
) -> None:
    char = data.draw(CONTROLS, label="control")
    at = data.draw(st.integers(0, len(valid)), label="at")
    assert not accepts(valid[:at] + char + valid[at:]), what


@pytest.mark.parametrize(("what", "valid", "accepts"), PATTERNED, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_unicode_digit_is_refused(
    what: str, valid: str, accepts: Callable[[str], bool], data: st.DataObject
) -> None:
    digit = data.draw(UNICODE_DIGITS, label="digit")
    at = data.draw(st.integers(0, len(valid)), label="at")
    assert not accepts(valid[:at] + digit + valid[at:]), what


@pytest.mark.parametrize(("what", "valid", "accepts"), PATTERNED, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(space=WHITESPACE)
@example(space="\n")
def test_trailing_whitespace_is_refused(
    what: str, valid: str, accepts: Callable[[str], bool], space: str
) -> None:
    assert not accepts(valid + space), what
    assert not accepts(space + valid), what


# Short machine-written status strings: free of control characters and bounded.
SHORT_TEXTS: list[tuple[str, Any, int]] = [
    ("short-text", meta.ShortText, meta.SHORT_TEXT_MAX_CHARS),
    ("reason", meta.Reason, meta.REASON_MAX_CHARS),
    ("address", meta.Address, meta.ADDRESS_MAX_CHARS),
]


@pytest.mark.parametrize(
    ("what", "annotation", "limit"), SHORT_TEXTS, ids=[s[0] for s in SHORT_TEXTS]
)
@settings(max_examples=40, deadline=None)
@given(char=CONTROLS)
@example(char="\x1b")
@example(char="\n")
def test_status_strings_refuse_control_characters(
    what: str, annotation: Any, limit: int, char: str
) -> None:
    accepts = _accepts_type(annotation)
    assert accepts("Running"), what
    assert not accepts(f"Run{char}ning"), what


@pytest.mark.parametrize(
    ("what", "annotation", "limit"), SHORT_TEXTS, ids=[s[0] for s in SHORT_TEXTS]
)
def test_status_strings_are_bounded(what: str, annotation: Any, limit: int) -> None:
    accepts = _accepts_type(annotation)
    assert accepts("x" * limit), what
    assert not accepts("x" * (limit + 1)), what


def test_a_message_is_bounded() -> None:
    accepts = _accepts_type(meta.Message)
    assert accepts("line one\nline two" + "x" * (meta.MESSAGE_MAX_CHARS - 17))
    assert not accepts("x" * (meta.MESSAGE_MAX_CHARS + 1))


# Every integer field of every kind: a good value and the largest one it takes.
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
INTEGER_FIELDS: list[tuple[str, str, int, int]] = [
    ("Application", "spec.placement.replicas", 3, INT32_MAX),
    ("Application", "spec.placement.priority", -5, INT32_MAX),
    ("Application", "spec.devices", 1, INT32_MAX),
    ("Site", "spec.uplink.bandwidthBytesPerSecond", 1000, INT64_MAX),
    ("Site", "status.inventory.cpus", 4, INT32_MAX),
    ("Site", "status.workloads.running", 4, INT32_MAX),
    ("Site", "metadata.generation", 4, INT64_MAX),
    ("SiteGroup", "status.sites", 4, INT32_MAX),
    ("Assignment", "spec.revision", 2, INT32_MAX),
    ("Assignment", "spec.replicas", 1, INT32_MAX),
    ("Assignment", "status.ready", 1, INT32_MAX),
    ("Assignment", "status.restarts", 0, INT32_MAX),
    ("Assignment", "status.observedGeneration", 1, INT64_MAX),
]


def _set_int(kind: str, path: str, value: Any) -> tuple[dict[str, Any], str]:
    """The good object with the integer at ``path`` set; device counts sit in a list."""
    if path == "spec.devices":
        device = {"selector": {"matchLabels": {"class": "camera"}}, "count": value}
        return changed(good(kind), path, [device]), "spec.devices[0].count"
    return changed(good(kind), path, value), path


@pytest.mark.parametrize(("kind", "path", "ok", "largest"), INTEGER_FIELDS)
@pytest.mark.parametrize("bad", ["3", True, 3.5, 3.0, 1e30, 10**30, float("nan"), "largest+1"])
def test_integers_are_strict_and_bounded(
    kind: str, path: str, ok: int, largest: int, bad: Any
) -> None:
    validate_object(_set_int(kind, path, ok)[0])
    validate_object(_set_int(kind, path, largest)[0])
    spoiled, field = _set_int(kind, path, largest + 1 if bad == "largest+1" else bad)
    with pytest.raises(InvalidObject) as refused:
        validate_object(spoiled)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("spec.location.lat", True),
        ("spec.location.lat", "53"),
        ("spec.location.lon", float("inf")),
        ("spec.location.lon", float("nan")),
        ("spec.unschedulable", "yes"),
        ("spec.unschedulable", 1),
        ("spec.uplink.metered", "true"),
    ],
)
def test_numbers_and_flags_are_strict(path: str, bad: Any) -> None:
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("Site"), path, bad))
    assert refused.value.field == path


def test_ports_are_bounded_to_their_range() -> None:
    ports = "spec.workload.process.ports"
    for bad in (0, 65536, "80", True):
        with pytest.raises(InvalidObject) as refused:
            validate_object(changed(good("Application"), ports, [{"name": "web", "port": bad}]))
        assert refused.value.field == f"{ports}[0].port"


@pytest.mark.parametrize(
    ("path", "value", "limit"),
    [
        ("status.conditions", [{"type": f"T{i}", "status": "True"} for i in range(101)], "100"),
        ("status.devices", [{"name": f"d{i}"} for i in range(1025)], "1024"),
        ("status.address", "a" * 2049, "2048"),
        ("status.agentVersion", "v" * 257, "256"),
        ("status.inventory.os", "x" * 257, "256"),
    ],
)
def test_site_status_fields_are_bounded(path: str, value: Any, limit: str) -> None:
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("Site"), path, value))
    assert refused.value.field == path
    assert limit in str(refused.value)


@pytest.mark.parametrize(
    ("path", "value", "limit"),
    [
        ("status.message", "m" * (32 * 1024 + 1), "32768"),
        ("status.reason", "r" * 1025, "1024"),
        ("status.endpoints", [{"port": 80}] * 257, "256"),
        ("status.phase", "Running\x1b[2J", "control character"),
    ],
)
def test_assignment_status_fields_are_bounded(path: str, value: Any, limit: str) -> None:
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("Assignment"), path, value))
    assert refused.value.field == path
    assert limit in str(refused.value)


def test_annotations_are_bounded_in_bytes() -> None:
    big = {"example.com/blob": "x" * (meta.ANNOTATIONS_MAX_BYTES + 1)}
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("Site"), "metadata.annotations", big))
    assert refused.value.field == "metadata.annotations"


@pytest.mark.parametrize("value", ["4", "0", "123456789012345678901"[:20], ""])
def test_resource_versions_that_are_accepted(value: str) -> None:
    assert meta.check_resource_version(value) is None


@pytest.mark.parametrize("value", ["1" * 21, "٣", "²", "12\n", " 12", "-1", "1.0", "0x1"])
def test_resource_versions_that_are_refused(value: str) -> None:
    assert meta.check_resource_version(value) is not None
    with pytest.raises(InvalidObject) as refused:
        validate_object(changed(good("Site"), "metadata.resourceVersion", value))
    assert refused.value.field == "metadata.resourceVersion"


@pytest.mark.parametrize("value", ["1" * 65, "1e99999999", "٣Gi", "1Gi\n", " 1Gi"])
def test_hostile_quantities_are_refused(value: str) -> None:
    with pytest.raises(QuantityError):
        Quantity.parse(value)
