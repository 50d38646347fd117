"""Maintenance windows of a Site and of a SiteGroup: what is accepted and kept as
written, and what is refused with the field named and the fix said."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.sites import WINDOWS_MAX
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed, good

NIGHTLY = {"schedule": "0 2 * * *", "durationMinutes": 120, "timeZone": "Europe/Berlin"}
KINDS = ["Site", "SiteGroup"]


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
@pytest.mark.parametrize(
    "windows",
    [
        [NIGHTLY],
        [{"schedule": "*/15 8-18/2 1,15 1-12 1-5", "durationMinutes": 1}],
        [{"schedule": "0 0 * * 7", "durationMinutes": 10080, "timeZone": "UTC"}],
        [NIGHTLY] * WINDOWS_MAX,
        [],
    ],
    ids=["nightly", "every-form", "weekly-longest", "most", "none"],
)
def test_good_windows_round_trip_unchanged(kind: str, windows: list[dict[str, Any]]) -> None:
    raw = changed(good(kind), "spec.maintenanceWindows", windows)
    assert to_wire(validate_object(raw))["spec"]["maintenanceWindows"] == windows


# (id, window, the field named, words of the message)
BAD = [
    ("four-fields", {"schedule": "0 2 * *"}, "schedule", "write 5"),
    ("minute-60", {"schedule": "60 2 * * *"}, "schedule", "minute"),
    ("never", {"schedule": "0 0 31 2 *"}, "schedule", "never matches"),
    ("no-schedule", {"schedule": None}, "schedule", "valid string"),
    ("zero-minutes", {"durationMinutes": 0}, "durationMinutes", "greater than or equal to 1"),
    ("over-a-week", {"durationMinutes": 10081}, "durationMinutes", "less than or equal to 10080"),
    ("minutes-text", {"durationMinutes": "120"}, "durationMinutes", "valid integer"),
    ("unknown-zone", {"timeZone": "Mars/Base"}, "timeZone", "like 'Europe/Berlin'"),
    ("zone-case", {"timeZone": "utc"}, "timeZone", "not a known IANA time zone"),
    ("zone-path", {"timeZone": "../etc/passwd"}, "timeZone", "not a known IANA time zone"),
    ("zone-absolute", {"timeZone": "/etc/localtime"}, "timeZone", "not a known IANA"),
    ("zone-file", {"timeZone": "zone.tab"}, "timeZone", "not a known IANA time zone"),
    ("zone-newline", {"timeZone": "UTC\n"}, "timeZone", "control character"),
    ("extra", {"days": "weekdays"}, "days", "unknown field"),
]


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
@pytest.mark.parametrize(
    ("change", "field", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_window_names_the_field_and_the_fix(
    kind: str, change: dict[str, Any], field: str, words: str
) -> None:
    raw = changed(good(kind), "spec.maintenanceWindows", [NIGHTLY, {**NIGHTLY, **change}])
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert raised.value.field == f"spec.maintenanceWindows[1].{field}", raised.value.errors
    assert words in str(raised.value)


def test_a_missing_duration_is_required() -> None:
    raw = changed(good("Site"), "spec.maintenanceWindows", [{"schedule": "0 2 * * *"}])
    with pytest.raises(InvalidObject, match="is required") as raised:
        validate_object(raw)
    assert raised.value.field == "spec.maintenanceWindows[0].durationMinutes"


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_at_most_sixteen_windows(kind: str) -> None:
    raw = changed(good(kind), "spec.maintenanceWindows", [NIGHTLY] * (WINDOWS_MAX + 1))
    with pytest.raises(InvalidObject, match=f"at most {WINDOWS_MAX}") as raised:
        validate_object(raw)
    assert raised.value.field == "spec.maintenanceWindows"
