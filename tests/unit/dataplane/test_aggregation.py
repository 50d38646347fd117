"""Edge aggregation (``dataplane.aggregation``): the config read defensively, windows
aligned to the epoch, exact figures and nearest-rank percentiles, raw records past a
threshold, late records in a reopened window marked partial, skipped records counted by
reason, and the bounds on keys, windows and samples."""

from __future__ import annotations

import ast
import math
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.dataplane import aggregation
from edgeplane.dataplane.aggregation import (
    DEFAULT_FUNCTIONS,
    MAX_KEY_CHARS,
    MAX_KEYS,
    MAX_SAMPLES,
    MAX_WINDOWS,
    Aggregation,
    Aggregator,
    Function,
    Output,
    RawRecords,
    Threshold,
    parse_aggregation,
)

ALL = [f.value for f in Function]


def aggregator(**raw: Any) -> Aggregator:
    return Aggregator(parse_aggregation({"windowSeconds": 60, "field": "v", **raw}))


def feed(agg: Aggregator, values: Iterable[float], at: float = 0.0, **fields: Any) -> None:
    """One record a millisecond from ``at``; none goes raw."""
    for n, value in enumerate(values):
        assert agg.add({"v": value, **fields}, at + n / 1000) == []


def bodies(outputs: Sequence[Output]) -> list[Mapping[str, Any]]:
    assert all(o.kind == "summary" for o in outputs)
    return [o.body for o in outputs]


def only(outputs: Sequence[Output]) -> Mapping[str, Any]:
    [body] = bodies(outputs)
    return body


# -- configuration -----------------------------------------------------------------------


def test_a_minimal_config_takes_the_defaults() -> None:
    assert parse_aggregation({"windowSeconds": 60, "field": "v"}) == Aggregation(
        window_seconds=60.0, field="v"
    )
    assert DEFAULT_FUNCTIONS == (Function.COUNT, Function.MEAN, Function.MIN, Function.MAX)


def test_a_full_config_is_read_and_nulls_count_as_absent() -> None:
    full = parse_aggregation(
        {
            "windowSeconds": 0.5,
            "field": "reading.value",
            "keyBy": "sensor",
            "functions": ["p99", "count", "last"],
            "raw": "threshold",
            "threshold": {"above": 80, "below": -5.5},
        }
    )
    assert full == Aggregation(
        window_seconds=0.5,
        field="reading.value",
        key_by="sensor",
        functions=(Function.P99, Function.COUNT, Function.LAST),
        raw=RawRecords.THRESHOLD,
        threshold=Threshold(above=80.0, below=-5.5),
    )
    nulls = {"keyBy": None, "functions": None, "raw": None, "threshold": None}
    assert parse_aggregation({"windowSeconds": 60, "field": "v", **nulls}) == Aggregation(60.0, "v")


OK = {"windowSeconds": 60, "field": "v"}
RAW = {**OK, "raw": "threshold"}
BAD_CONFIGS: list[tuple[Any, str]] = [
    (["windowSeconds"], "aggregation"),
    ({**OK, "sampleRate": 2}, "sampleRate"),
    ({"field": "v"}, "windowSeconds"),
    ({**OK, "windowSeconds": 0}, "windowSeconds"),
    ({**OK, "windowSeconds": -1}, "windowSeconds"),
    ({**OK, "windowSeconds": 86_401}, "windowSeconds"),
    ({**OK, "windowSeconds": True}, "windowSeconds"),
    ({**OK, "windowSeconds": "60"}, "windowSeconds"),
    ({**OK, "windowSeconds": math.nan}, "windowSeconds"),
    ({**OK, "windowSeconds": math.inf}, "windowSeconds"),
    ({"windowSeconds": 60}, "field"),
    ({**OK, "field": ""}, "field"),
    ({**OK, "field": "a b"}, "field"),
    ({**OK, "field": "v" * 129}, "field"),
    ({**OK, "field": 5}, "field"),
    ({**OK, "keyBy": "a/b"}, "keyBy"),
    ({**OK, "functions": []}, "functions"),
    ({**OK, "functions": "count"}, "functions"),
    ({**OK, "functions": [*ALL, "count"]}, "functions"),
    ({**OK, "functions": ["median"]}, "functions"),
    ({**OK, "functions": [1]}, "functions"),
    ({**OK, "functions": ["count", "count"]}, "functions"),
    ({**OK, "raw": "always"}, "raw"),
    ({**OK, "raw": True}, "raw"),
    ({**OK, "threshold": {"above": 80}}, "threshold"),
    (RAW, "threshold"),
    ({**RAW, "threshold": 80}, "threshold"),
    ({**RAW, "threshold": {}}, "threshold"),
    ({**RAW, "threshold": {"above": None, "below": None}}, "threshold"),
    ({**RAW, "threshold": {"above": 80, "over": 90}}, "over"),
    ({**RAW, "threshold": {"above": "80"}}, "threshold.above"),
    ({**RAW, "threshold": {"below": False}}, "threshold.below"),
    ({**RAW, "threshold": {"below": math.inf}}, "threshold.below"),
]
BAD_CONFIG_IDS = [
    "not-an-object",
    "unknown-field",
    "no-window",
    "window-zero",
    "window-negative",
    "window-over-a-day",
    "window-bool",
    "window-string",
    "window-nan",
    "window-inf",
    "no-field",
    "field-empty",
    "field-space",
    "field-too-long",
    "field-number",
    "key-by-slash",
    "functions-empty",
    "functions-string",
    "functions-eleven",
    "functions-unknown",
    "functions-number",
    "functions-twice",
    "raw-unknown",
    "raw-bool",
    "threshold-without-raw",
    "raw-without-threshold",
    "threshold-number",
    "threshold-empty",
    "threshold-nulls",
    "threshold-unknown-field",
    "above-string",
    "below-bool",
    "below-inf",
]


@pytest.mark.parametrize(("raw", "named"), BAD_CONFIGS, ids=BAD_CONFIG_IDS)
def test_every_bad_config_is_refused_naming_its_field(raw: Any, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        parse_aggregation(raw)


def test_a_huge_bad_value_is_shown_shortened() -> None:
    with pytest.raises(ValueError, match="field") as refused:
        parse_aggregation({**OK, "field": "é" * 100_000})
    assert len(str(refused.value)) < 300


# -- windows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "at", "start", "end"),
    [
        (60, 0.0, 0.0, 60.0),
        (60, 59.999, 0.0, 60.0),
        (60, 60.0, 60.0, 120.0),
        (60, 125.5, 120.0, 180.0),
        (60, -1.0, -60.0, 0.0),
        (0.5, 10.26, 10.0, 10.5),
        (86_400, 1_700_000_000.0, 1_699_920_000.0, 1_700_006_400.0),
    ],
    ids=[
        "epoch",
        "just-before-end",
        "end-starts-next",
        "minutes",
        "before-epoch",
        "half-second",
        "day",
    ],
)
def test_windows_are_aligned_to_the_epoch(
    seconds: float, at: float, start: float, end: float
) -> None:
    agg = aggregator(windowSeconds=seconds)
    agg.add({"v": 1}, at)
    assert agg.flush(end - 0.001) == []  # not ended yet
    [summary] = agg.flush(end)
    assert summary.body["window"] == {"start": start, "end": end}
    assert summary.at == end


def test_flush_sends_ended_windows_once_by_start_then_key() -> None:
    agg = aggregator(keyBy="sensor")
    for at, sensor in [(130, "b"), (10, "b"), (20, "a"), (70, "c"), (75, "a"), (200, "a")]:
        agg.add({"v": 1, "sensor": sensor}, at)
    sent = [(b["window"]["start"], b["key"]) for b in bodies(agg.flush(180))]
    assert sent == [(0.0, "a"), (0.0, "b"), (60.0, "a"), (60.0, "c"), (120.0, "b")]
    assert agg.flush(180) == []  # forgotten
    assert [(b["window"]["start"], b["key"]) for b in bodies(agg.flush_all())] == [(180.0, "a")]
    assert agg.flush_all() == []


def test_a_record_late_but_before_the_flush_is_not_partial() -> None:
    agg = aggregator()
    agg.add({"v": 1}, 10)
    agg.add({"v": 2}, 50)
    assert only(agg.flush(500)) == {
        "window": {"start": 0.0, "end": 60.0},
        "count": 2,
        "mean": 1.5,
        "min": 1.0,
        "max": 2.0,
    }


def test_a_late_record_reopens_its_window_and_comes_as_partial() -> None:
    agg = aggregator(functions=["count", "sum", "min", "max", "last"])
    feed(agg, [4, 6], at=10)
    first = only(agg.flush(60))
    assert first["count"] == 2 and first["sum"] == 10.0 and "partial" not in first
    agg.add({"v": 1}, 59)  # late: its window was flushed
    agg.add({"v": 3}, 30)
    agg.add({"v": 7}, 70)  # on time, in the next window
    late, current = bodies(agg.flush(120))
    assert late == {
        "window": {"start": 0.0, "end": 60.0},
        "count": 2,
        "sum": 4.0,
        "min": 1.0,
        "max": 3.0,
        "last": 1.0,
        "partial": True,
    }
    assert current["window"]["start"] == 60.0 and "partial" not in current


def test_after_flush_all_a_record_of_a_flushed_window_is_partial() -> None:
    agg = aggregator()
    agg.add({"v": 1}, 10)
    assert "partial" not in only(agg.flush_all())
    agg.add({"v": 2}, 20)  # the window had not ended, but its summary went
    assert only(agg.flush_all())["partial"] is True


# -- figures -----------------------------------------------------------------------------


def test_every_function_on_a_known_list() -> None:
    agg = aggregator(functions=ALL)
    feed(agg, [3, 1, 4, 1, 5, 9, 2, 6])
    assert only(agg.flush(60)) == {
        "window": {"start": 0.0, "end": 60.0},
        "count": 8,
        "sum": 31.0,
        "min": 1.0,
        "max": 9.0,
        "mean": 3.875,
        "last": 6.0,
        "p50": 3.0,
        "p90": 9.0,
        "p95": 9.0,
        "p99": 9.0,
    }


@pytest.mark.parametrize(
    ("values", "p50", "p90", "p95", "p99"),
    [
        ([10.0], 10.0, 10.0, 10.0, 10.0),
        ([2.0, 1.0], 1.0, 2.0, 2.0, 2.0),
        (list(range(1, 11)), 5, 9, 10, 10),
        (list(range(100, 0, -1)), 50, 90, 95, 99),
        (list(range(1, 1001)), 500, 900, 950, 990),
    ],
    ids=["one", "two", "ten", "hundred-reversed", "thousand"],
)
def test_percentiles_are_by_nearest_rank(
    values: list[float], p50: float, p90: float, p95: float, p99: float
) -> None:
    agg = aggregator(functions=["p50", "p90", "p95", "p99"])
    random.Random(7).shuffle(values)
    feed(agg, values)
    summary = only(agg.flush(60))
    assert (summary["p50"], summary["p90"], summary["p95"], summary["p99"]) == (p50, p90, p95, p99)
    assert "sampled" not in summary


@pytest.mark.parametrize(
    ("functions", "keys"),
    [
        (None, ["window", "count", "mean", "min", "max"]),
        (["max"], ["window", "count", "max"]),
        (["p90", "count", "sum"], ["window", "count", "p90", "sum"]),
    ],
    ids=["default", "max-only", "count-asked"],
)
def test_a_summary_holds_count_and_the_functions_asked(
    functions: list[str] | None, keys: list[str]
) -> None:
    agg = aggregator(functions=functions)
    feed(agg, [1.0])
    assert list(only(agg.flush(60))) == keys


def test_last_is_the_latest_in_time_not_in_arrival() -> None:
    agg = aggregator(functions=["last"])
    agg.add({"v": 1}, 30)
    agg.add({"v": 2}, 10)
    agg.add({"v": 3}, 30)  # a tie goes to the later arrival
    assert only(agg.flush(60))["last"] == 3.0


def test_a_sum_past_the_floats_is_none_not_inf() -> None:
    agg = aggregator(functions=["sum", "mean", "max"])
    feed(agg, [1e308, 1e308])
    assert only(agg.flush(60)) == {
        "window": {"start": 0.0, "end": 60.0},
        "count": 2,
        "sum": None,
        "mean": None,
        "max": 1e308,
    }


def test_a_dotted_field_reaches_into_the_record() -> None:
    agg = Aggregator(parse_aggregation({"windowSeconds": 60, "field": "a.b.c"}))
    agg.add({"a": {"b": {"c": 4}}}, 1)
    agg.add({"a": {"b": 4}}, 2)
    assert only(agg.flush(60))["count"] == 1
    assert agg.skipped == {"missing": 1}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=300))
def test_figures_equal_a_direct_computation(values: list[float]) -> None:
    agg = aggregator(functions=ALL)
    feed(agg, values)
    summary, ordered = only(agg.flush(60)), sorted(values)
    assert summary["count"] == len(values)
    assert summary["sum"] == pytest.approx(math.fsum(values), rel=1e-9, abs=1e-3)
    assert summary["mean"] == pytest.approx(math.fsum(values) / len(values), rel=1e-9, abs=1e-3)
    assert (summary["min"], summary["max"], summary["last"]) == (
        min(values),
        max(values),
        values[-1],
    )
    for p in (50, 90, 95, 99):
        assert summary[f"p{p}"] == ordered[max(math.ceil(p * len(values) / 100), 1) - 1]


# -- raw records -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "value", "sent"),
    [
        ({"above": 80}, 80.5, True),
        ({"above": 80}, 80, False),
        ({"above": 80}, -1000, False),
        ({"below": 10}, 9.9, True),
        ({"below": 10}, 10, False),
        ({"above": 80, "below": 10}, 5, True),
        ({"above": 80, "below": 10}, 95, True),
        ({"above": 80, "below": 10}, 50, False),
    ],
    ids=[
        "above",
        "at-above",
        "far-below-no-below",
        "below",
        "at-below",
        "both-low",
        "both-high",
        "both-between",
    ],
)
def test_a_record_past_the_threshold_goes_raw_and_is_summarised_too(
    threshold: dict[str, float], value: float, sent: bool
) -> None:
    agg = aggregator(raw="threshold", threshold=threshold)
    record = {"v": value, "site": {"name": "lyon"}}
    out = agg.add(record, 42.5)
    assert out == ([Output("raw", 42.5, record)] if sent else [])
    assert only(agg.flush(60))["count"] == 1


def test_without_raw_threshold_no_record_goes_raw() -> None:
    agg = aggregator()
    assert agg.add({"v": 1e300}, 1) == []
    assert agg.add({"v": -1e300}, 2) == []


# -- skipped records ---------------------------------------------------------------------

SKIPPED: list[tuple[dict[str, Any], str]] = [
    ({"sensor": "a"}, "missing"),
    ({"v": None, "sensor": "a"}, "missing"),
    ({"v": "3", "sensor": "a"}, "not-a-number"),
    ({"v": True, "sensor": "a"}, "not-a-number"),
    ({"v": math.nan, "sensor": "a"}, "not-a-number"),
    ({"v": -math.inf, "sensor": "a"}, "not-a-number"),
    ({"v": 10**400, "sensor": "a"}, "not-a-number"),
    ({"v": [1], "sensor": "a"}, "not-a-number"),
    ({"v": 1}, "missing-key"),
    ({"v": 1, "sensor": None}, "missing-key"),
    ({"v": 1, "sensor": {"id": 1}}, "key-not-scalar"),
    ({"v": 1, "sensor": [1]}, "key-not-scalar"),
    ({"v": 1, "sensor": "k" * (MAX_KEY_CHARS + 1)}, "key-too-long"),
    ({"v": 1, "sensor": 10**5000}, "key-too-long"),
]
SKIPPED_IDS = [
    "no-value",
    "null-value",
    "string",
    "bool",
    "nan",
    "minus-inf",
    "int-past-float",
    "list",
    "no-key",
    "null-key",
    "object-key",
    "list-key",
    "long-key",
    "huge-int-key",
]


@pytest.mark.parametrize(("record", "reason"), SKIPPED, ids=SKIPPED_IDS)
def test_a_record_that_cannot_be_aggregated_is_counted_and_dropped(
    record: dict[str, Any], reason: str
) -> None:
    agg = aggregator(keyBy="sensor", raw="threshold", threshold={"above": 0})
    assert agg.add(record, 1) == []  # not even raw, past the threshold as it may be
    assert agg.flush_all() == []
    assert agg.skipped == {reason: 1}


@pytest.mark.parametrize(
    ("value", "key"),
    [("s1", "s1"), (7, "7"), (1.5, "1.5"), (True, "true"), ("k" * MAX_KEY_CHARS, "k" * 256)],
    ids=["string", "int", "float", "bool", "longest"],
)
def test_key_values_become_strings_as_json_writes_them(value: object, key: str) -> None:
    agg = aggregator(keyBy="meta.sensor")
    agg.add({"v": 1, "meta": {"sensor": value}}, 1)
    assert only(agg.flush(60))["key"] == key


# -- bounds ------------------------------------------------------------------------------


def test_keys_past_max_keys_are_skipped_per_window() -> None:
    agg = aggregator(keyBy="k")
    for k in range(MAX_KEYS):
        agg.add({"v": 1, "k": k}, 1)
    agg.add({"v": 1, "k": "one-too-many"}, 2)
    agg.add({"v": 1, "k": 0}, 3)  # a key already open still counts
    agg.add({"v": 1, "k": "one-too-many"}, 60)  # another window has room
    assert agg.skipped == {"too-many-keys": 1}
    first = bodies(agg.flush(60))
    assert len(first) == MAX_KEYS and sum(b["count"] for b in first) == MAX_KEYS + 1
    assert only(agg.flush(120))["key"] == "one-too-many"


def test_windows_past_max_windows_are_skipped_until_a_flush() -> None:
    agg = aggregator()
    for n in range(MAX_WINDOWS + 1):
        agg.add({"v": n}, n * 60.0)
    assert agg.skipped == {"too-many-windows": 1}
    assert len(agg.flush(MAX_WINDOWS * 60.0)) == MAX_WINDOWS
    agg.add({"v": 1}, MAX_WINDOWS * 60.0)
    assert agg.skipped == {"too-many-windows": 1}
    assert only(agg.flush_all())["window"]["start"] == MAX_WINDOWS * 60.0


@pytest.mark.parametrize(
    ("n", "sampled"),
    [(MAX_SAMPLES, False), (MAX_SAMPLES + 1, True), (20_000, True)],
    ids=["exact", "one-past", "many"],
)
def test_past_max_samples_percentiles_come_from_a_reservoir(n: int, sampled: bool) -> None:
    values = [float(v) for v in range(n)]
    random.Random(3).shuffle(values)
    agg = aggregator(functions=["count", "sum", "min", "max", "p50", "p99"])
    feed(agg, values)
    summary = only(agg.flush(60))
    assert (summary["count"], summary["sum"]) == (n, math.fsum(values))  # exact all the same
    assert (summary["min"], summary["max"]) == (0.0, n - 1.0)
    assert summary.get("sampled", False) is sampled
    assert summary["p50"] == pytest.approx(n / 2, rel=0.05)
    assert summary["p99"] == pytest.approx(0.99 * n, rel=0.05)


def test_sampling_is_reproducible_and_differs_by_key() -> None:
    def run() -> list[Mapping[str, Any]]:
        agg = aggregator(keyBy="k", functions=["p50", "p90"])
        for k in ("a", "b"):
            feed(agg, [float(v) for v in range(5_000)], k=k)
        return bodies(agg.flush(60))

    first, again = run(), run()
    assert first == again and all(b["sampled"] for b in first)
    assert (first[0]["p50"], first[0]["p90"]) != (first[1]["p50"], first[1]["p90"])


def test_no_percentile_asked_no_samples_kept() -> None:
    agg = aggregator()
    feed(agg, [1.0] * (MAX_SAMPLES + 10))
    summary = only(agg.flush(60))
    assert summary["count"] == MAX_SAMPLES + 10 and "sampled" not in summary


# -- purity ------------------------------------------------------------------------------


def test_the_module_imports_the_standard_library_only() -> None:
    tree = ast.parse(Path(aggregation.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names)
