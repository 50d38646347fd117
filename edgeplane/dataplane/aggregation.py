"""Edge aggregation: a stream's records summed up per key in tumbling windows at the site.

A DataStream with ``spec.aggregation`` sends one summary per window and key over the
thin uplink instead of every record, and raw records only when they cross ``threshold``
(``raw: threshold``: strictly above ``above`` or below ``below``; they are summarised
too). ``parse_aggregation`` checks the wire dict again, though the hub did (``ValueError``
naming the field and the fix). ``Aggregator.add`` returns the raw records to send now,
``flush(now)`` the summaries of the windows ended by ``now``.

Windows are aligned to the epoch: window ``i = floor(at / w)`` runs from ``i * w`` to
``(i + 1) * w`` (excluded). A summary::

    {"window": {"start": 60.0, "end": 120.0}, "key": "s1", "count": 3, "mean": 2.0, ...}

``key`` only with ``keyBy``; ``count`` always, then the functions in the order asked; a
sum that overflows is None (JSON has no inf), and so is its mean. Percentiles are by
nearest rank (the ``ceil(p/100 * n)``-th smallest: always a value seen), exact up to
``MAX_SAMPLES`` values per key and window, then over a reservoir sample (Algorithm R,
seeded by window and key: reproducible) and marked ``"sampled": true``.

A late record, for a window already flushed, reopens that window; the next flush sends
its summary marked ``"partial": true``: it covers only the late records, to be added to
the first (count, sum, min, max combine exactly; ``last`` and percentiles are the late
records' own). A record never goes to a window its time is not in.

A record that cannot be aggregated is dropped (not summarised, not sent raw) and counted
in ``Aggregator.skipped`` by reason (``SkipReason``): no value or null at ``field``, not
a finite number (nor is a bool), a bad ``keyBy`` value (numbers and bools are keyed as
JSON writes them), or a bound reached: they keep a hostile workload from growing the agent.

Pure (the caller passes the times), standard library only: the agent stays small.
Neighbours: the agent's data module feeds it what workloads publish and spools its
outputs (``dataplane.spool``) for ``dataplane.uplink``; ``api.datastreams`` is the hub's
model of the same fields.
"""

from __future__ import annotations

import enum
import math
import random
import re
import reprlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

WINDOW_SECONDS_MAX = 86_400
FUNCTIONS_MAX = 10
FIELD_PATH_MAX_CHARS = 128
MAX_KEYS = 1_000
"""Keys open at once in one window."""
MAX_KEY_CHARS = 256
MAX_SAMPLES = 1_024
"""Values kept per key and window for percentiles (exact up to this many)."""
MAX_WINDOWS = 8
"""Windows open at once: the current one, one not yet flushed, and room for late ones."""

_FIELD_PATH = re.compile(rf"[A-Za-z0-9_.-]{{1,{FIELD_PATH_MAX_CHARS}}}")
_shown = reprlib.repr  # a hostile value may be huge: show its start
_KNOWN = ("windowSeconds", "field", "keyBy", "functions", "raw", "threshold")

SkipReason = Literal[
    "missing",  # nothing, or null, at ``field``
    "not-a-number",  # bools, strings, NaN, inf, ints too big for a float
    "missing-key",  # nothing, or null, at ``keyBy``
    "key-not-scalar",  # an object or a list
    "key-too-long",  # over MAX_KEY_CHARS
    "too-many-keys",  # MAX_KEYS open in the record's window
    "too-many-windows",  # MAX_WINDOWS open
]


class Function(enum.StrEnum):
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    MEAN = "mean"
    LAST = "last"
    P50 = "p50"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"


PERCENTILES = {Function.P50: 50, Function.P90: 90, Function.P95: 95, Function.P99: 99}
DEFAULT_FUNCTIONS = (Function.COUNT, Function.MEAN, Function.MIN, Function.MAX)


class RawRecords(enum.StrEnum):
    NEVER = "never"
    THRESHOLD = "threshold"


_Choice = TypeVar("_Choice", Function, RawRecords)


@dataclass(frozen=True, slots=True)
class Threshold:
    above: float | None = None
    below: float | None = None

    def crossed(self, value: float) -> bool:
        above = self.above is not None and value > self.above
        return above or (self.below is not None and value < self.below)


@dataclass(frozen=True, slots=True)
class Aggregation:
    """A stream's ``spec.aggregation``: ``threshold`` is set exactly with raw: threshold."""

    window_seconds: float
    field: str
    key_by: str | None = None
    functions: tuple[Function, ...] = DEFAULT_FUNCTIONS
    raw: RawRecords = RawRecords.NEVER
    threshold: Threshold | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """A ``raw`` record (``at``: its time) or a ``summary`` (``at``: its window's end)."""

    kind: Literal["raw", "summary"]
    at: float
    body: Mapping[str, Any]


def parse_aggregation(raw: Mapping[str, Any]) -> Aggregation:
    """The ``spec.aggregation`` wire dict as an ``Aggregation``; ``ValueError`` naming
    the field and the fix for anything wrong. A null optional field counts as absent."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"aggregation must be an object (windowSeconds, field), not {_shown(raw)}")
    _only(raw, "aggregation", _KNOWN)
    mode = RawRecords.NEVER if raw.get("raw") is None else _choice("raw", raw["raw"], RawRecords)
    key_by = raw.get("keyBy")
    return Aggregation(
        window_seconds=_window(raw.get("windowSeconds")),
        field=_path("field", raw.get("field")),
        key_by=None if key_by is None else _path("keyBy", key_by),
        functions=_functions(raw.get("functions")),
        raw=mode,
        threshold=_threshold(mode, raw.get("threshold")),
    )


def _only(raw: Mapping[Any, Any], where: str, known: tuple[str, ...]) -> None:
    # Refused, not ignored: a field this agent does not know may change what to send.
    unknown = sorted(str(name) for name in raw if name not in known)
    if unknown:
        names = ", ".join(known)
        raise ValueError(f"{where}: unknown field {_shown(unknown[0])}: drop it (known: {names})")


def _number(name: str, value: object) -> float:
    number = _as_number(value)
    if number is None:
        raise ValueError(f"{name} must be a finite number, not {_shown(value)}")
    return number


def _as_number(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (bools, NaN, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _window(value: object) -> float:
    seconds = _as_number(value)
    if seconds is None or not 0 < seconds <= WINDOW_SECONDS_MAX:
        raise ValueError(
            "windowSeconds must be a number of seconds above 0 and at most "
            f"{WINDOW_SECONDS_MAX} (e.g. 60), not {_shown(value)}"
        )
    return seconds


def _path(name: str, value: object) -> str:
    if not isinstance(value, str) or not _FIELD_PATH.fullmatch(value):
        raise ValueError(
            f"{name} must be a field path of letters, digits, '_', '-' and '.' (e.g. "
            f"reading.value), 1 to {FIELD_PATH_MAX_CHARS} characters, not {_shown(value)}"
        )
    return value


def _functions(value: object) -> tuple[Function, ...]:
    if value is None:
        return DEFAULT_FUNCTIONS
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= FUNCTIONS_MAX:
        raise ValueError(f"functions must list 1 to {FUNCTIONS_MAX} names, not {_shown(value)}")
    functions = tuple(_choice("functions", name, Function) for name in value)
    if len(set(functions)) != len(functions):
        raise ValueError(f"functions: name each function once, not {_shown(value)}")
    return functions


def _choice(name: str, value: object, choices: type[_Choice]) -> _Choice:
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(f"{name}: {_shown(value)} is not known: use one of {', '.join(choices)}")


def _threshold(mode: RawRecords, value: object) -> Threshold | None:
    if mode is RawRecords.NEVER:
        if value is not None:
            raise ValueError("threshold works only with raw: threshold: add it or drop threshold")
        return None
    if not isinstance(value, Mapping):
        raise ValueError("raw: threshold needs a threshold object (e.g. threshold: {above: 80})")
    _only(value, "threshold", ("above", "below"))
    above, below = value.get("above"), value.get("below")
    if above is None and below is None:
        raise ValueError("threshold needs above, below or both (e.g. above: 80)")
    return Threshold(
        above=None if above is None else _number("threshold.above", above),
        below=None if below is None else _number("threshold.below", below),
    )


class _Skip(Exception):
    def __init__(self, reason: SkipReason) -> None:
        self.reason: SkipReason = reason


class _Stats:
    """One key's figures in one window."""

    __slots__ = ("count", "high", "last", "last_at", "low", "rng", "samples", "total")

    def __init__(self) -> None:
        self.count, self.total = 0, 0.0
        self.low, self.high = math.inf, -math.inf
        self.last, self.last_at = math.nan, -math.inf
        self.samples: list[float] = []
        self.rng: random.Random | None = None  # made only once a key needs sampling

    def add(self, value: float, at: float) -> None:
        self.count += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)
        if at >= self.last_at:  # by time, not arrival: a late record is not the last
            self.last, self.last_at = value, at

    def sample(self, value: float, seed: str) -> None:
        """Algorithm R: keep the n-th value with chance MAX_SAMPLES/n (``add`` first)."""
        if self.count <= MAX_SAMPLES:
            self.samples.append(value)
            return
        if self.rng is None:
            self.rng = random.Random(seed)  # str seeds hash with SHA-512: same every run
        slot = self.rng.randrange(self.count)
        if slot < MAX_SAMPLES:
            self.samples[slot] = value

    def result(self, function: Function, ordered: list[float]) -> float | int | None:
        if function in PERCENTILES:
            rank = -(-PERCENTILES[function] * len(ordered) // 100)  # ceil, in integers
            return ordered[max(rank, 1) - 1]
        figures = {
            Function.COUNT: self.count,
            Function.SUM: _as_number(self.total),
            Function.MEAN: _as_number(self.total / self.count),
            Function.MIN: self.low,
            Function.MAX: self.high,
            Function.LAST: self.last,
        }
        return figures[function]


class Aggregator:
    """Tumbling windows of one stream's records; see the module docstring."""

    def __init__(self, spec: Aggregation) -> None:
        self.spec = spec
        self.skipped: Counter[SkipReason] = Counter()
        self._field = tuple(spec.field.split("."))
        self._key_by = None if spec.key_by is None else tuple(spec.key_by.split("."))
        self._percentiles = any(f in PERCENTILES for f in spec.functions)
        self._windows: dict[int, dict[str | None, _Stats]] = {}  # by index, then key
        self._partial: set[int] = set()  # reopened windows (a subset of _windows)
        self._flushed_below = -math.inf  # the windows under this index were flushed

    def add(self, record: Mapping[str, Any], at: float) -> list[Output]:
        """Aggregate ``record`` (published at ``at``); the raw record if it must go now."""
        index = self._index(at)
        try:
            value = _number_at(record, self._field)
            key = self._key(record)
            stats = self._stats(index, key)
        except _Skip as skip:
            self.skipped[skip.reason] += 1
            return []
        stats.add(value, at)
        if self._percentiles:
            stats.sample(value, f"{index}/{key}")
        if self.spec.threshold is not None and self.spec.threshold.crossed(value):
            return [Output("raw", at, dict(record))]
        return []

    def flush(self, now: float) -> list[Output]:
        """The summaries of every window that ended at or before ``now``, which are
        then forgotten: by window start, then by key."""
        below = self._index(now)
        self._flushed_below = max(self._flushed_below, below)
        return self._emit([index for index in self._windows if index < below])

    def flush_all(self) -> list[Output]:
        """Every open window's summaries, ended or not (at shutdown)."""
        if self._windows:
            self._flushed_below = max(self._flushed_below, max(self._windows) + 1)
        return self._emit(list(self._windows))

    def _index(self, at: float) -> int:
        return math.floor(at / self.spec.window_seconds)

    def _key(self, record: Mapping[str, Any]) -> str | None:
        if self._key_by is None:
            return None
        return _key_text(_lookup(record, self._key_by, "missing-key"))

    def _stats(self, index: int, key: str | None) -> _Stats:
        window = self._windows.get(index)
        if window is None:
            if len(self._windows) >= MAX_WINDOWS:
                raise _Skip("too-many-windows")
            window = self._windows[index] = {}
            if index < self._flushed_below:
                self._partial.add(index)
        stats = window.get(key)
        if stats is None:
            if len(window) >= MAX_KEYS:
                raise _Skip("too-many-keys")
            stats = window[key] = _Stats()
        return stats

    def _emit(self, indexes: list[int]) -> list[Output]:
        outputs = []
        for index in sorted(indexes):
            window, partial = self._windows.pop(index), index in self._partial
            self._partial.discard(index)
            for key in sorted(window, key=lambda k: k or ""):
                outputs.append(self._summary(index, partial, key, window[key]))
        return outputs

    def _summary(self, index: int, partial: bool, key: str | None, stats: _Stats) -> Output:
        seconds = self.spec.window_seconds
        start, end = index * seconds, (index + 1) * seconds
        body: dict[str, Any] = {"window": {"start": start, "end": end}}
        if key is not None:
            body["key"] = key
        body["count"] = stats.count
        ordered = sorted(stats.samples)
        body.update((f.value, stats.result(f, ordered)) for f in self.spec.functions)
        if partial:
            body["partial"] = True
        if self._percentiles and stats.count > MAX_SAMPLES:
            body["sampled"] = True
        return Output("summary", end, body)


def _lookup(record: object, path: tuple[str, ...], missing: SkipReason = "missing") -> object:
    for name in path:
        if not isinstance(record, Mapping) or record.get(name) is None:
            raise _Skip(missing)
        record = record[name]
    return record


def _number_at(record: object, path: tuple[str, ...]) -> float:
    number = _as_number(_lookup(record, path))
    if number is None:
        raise _Skip("not-a-number")
    return number


def _key_text(value: object) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"  # as JSON writes it, not Python's True
    elif isinstance(value, str | int | float):
        try:
            text = str(value)
        except ValueError:  # an int past Python's 4300-digit str limit
            raise _Skip("key-too-long") from None
    else:
        raise _Skip("key-not-scalar")
    if len(text) > MAX_KEY_CHARS:
        raise _Skip("key-too-long")
    return text
