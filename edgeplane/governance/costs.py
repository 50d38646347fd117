"""What a CEL rule may cost: a static estimate over its checked expression, made when the
policy is compiled (admission refuses a rule over ``MAX_RULE_COST``).

``cel-expr-python`` (cel-cpp) offers no cost estimator and no runtime cost limit; what
it does enforce is an iteration budget of 10,000 comprehension iterations per
evaluation (more fails with "Iteration budget exceeded"). So the estimate bounds what
the iterations can do:

* the checked expression (``Expression.serialize()``: a ``cel.expr.CheckedExpr`` in an
  ``Any``) is decoded here, with the macros already expanded into comprehensions;
* a unit is one node evaluated or one character or element touched; each node costs
  its units times how often it can run (the product of the sizes of the
  comprehensions around it, never more than the iteration budget);
* sizes: literals as written; a site's strings at most 317 characters (a label key
  or value) and 256 labels; anything read from the application at most
  ``INPUT_BYTES`` (the hub's body limit), a list or map read from it at most
  ``ITERATION_BUDGET`` elements; ``+`` adds sizes, ``matches``, ``contains``,
  comparisons and the like cost the sizes they scan.

It is an upper bound, not a prediction: ``[1, 2, 3].all(x, app.spec.a.matches("b"))``
is estimated as three scans of a 1 MiB string. At evaluation a rule is also held to a
wall-clock limit (``policies``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

ITERATION_BUDGET = 10_000
"""cel-cpp's comprehension iterations per evaluation (its default; not settable here)."""
MAX_RULE_COST = 10_000_000
"""Estimated units a rule may cost (about 50 ms of matching over 1 MiB strings)."""
INPUT_BYTES = 1024 * 1024
"""The largest string or list an application can hold (the hub's request body limit)."""
SITE_STRING, SITE_LABELS = 317, 256
MAX_DEPTH = 200
"""Nesting deeper than this is refused outright (the estimate recurses)."""


class CostError(ValueError):
    """An expression that cannot be estimated (deeper than ``MAX_DEPTH``)."""


@dataclass(frozen=True)
class Value:
    """What the estimate knows of a value: its size (characters or elements) and, for a
    list or map, the size of each element."""

    size: int
    element: int = 1


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[at]
        result |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return result, at


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, varint or bytes) of a protobuf message; fixed-width fields are
    skipped (the estimate needs none of them)."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            length, at = _varint(data, at)
            yield number, data[at : at + length]
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise CostError(f"unexpected protobuf wire type {wire}")


def _message(data: int | bytes) -> dict[int, list[int | bytes]]:
    found: dict[int, list[int | bytes]] = {}
    for number, value in _fields(data if isinstance(data, bytes) else b""):
        found.setdefault(number, []).append(value)
    return found


def _one(fields: dict[int, list[int | bytes]], number: int) -> bytes:
    value = fields.get(number, [b""])[0]
    return value if isinstance(value, bytes) else b""


def checked_expr(serialized: bytes) -> bytes:
    """The ``Expr`` of a serialized ``CheckedExpr`` (inside its ``Any``)."""
    return _one(_message(_one(_message(serialized), 2)), 4)


class Estimate:
    """The cost of one expression, node by node."""

    def __init__(self) -> None:
        self.units = 0
        self._scopes: list[dict[str, Value]] = []

    def of(self, expr: bytes, times: int = 1, depth: int = 0) -> Value:
        if depth > MAX_DEPTH:
            raise CostError(f"the expression nests deeper than {MAX_DEPTH}")
        fields = _message(expr)
        self.units += times
        for number, handler in _HANDLERS.items():
            if number in fields:
                return handler(self, _message(fields[number][0]), times, depth + 1)
        return Value(1)

    def _constant(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        for number in (6, 7):  # string, bytes
            if number in fields:
                return Value(len(_one(fields, number)))
        return Value(1)

    def _ident(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        name = _one(fields, 1).decode("utf-8", "replace")
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        if name == "site":
            return Value(SITE_LABELS, SITE_STRING)
        return Value(INPUT_BYTES, INPUT_BYTES)  # app, tenant: anything the body can hold

    def _select(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        operand = self.of(_one(fields, 1), times, depth)
        return Value(operand.element, operand.element)

    def _list(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        items = [self.of(e, times, depth) for e in fields.get(1, []) if isinstance(e, bytes)]
        self.units += times * len(items)
        return Value(len(items), max((v.size for v in items), default=1))

    def _struct(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        entries = [_message(e) for e in fields.get(2, [])]
        biggest = 1
        for entry in entries:
            if 3 in entry:
                self.of(_one(entry, 3), times, depth)
            biggest = max(biggest, self.of(_one(entry, 4), times, depth).size)
        self.units += times * len(entries)
        return Value(len(entries), biggest)

    def _call(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        function = _one(fields, 2).decode("utf-8", "replace")
        args = [self.of(_one(fields, 1), times, depth)] if 1 in fields else []
        args += [self.of(a, times, depth) for a in fields.get(3, []) if isinstance(a, bytes)]
        units, result = _call_cost(function, args)
        self.units += times * units
        return result

    def _comprehension(self, fields: dict[int, list[int | bytes]], times: int, depth: int) -> Value:
        over = self.of(_one(fields, 2), times, depth)
        init = self.of(_one(fields, 4), times, depth)
        n = min(over.size, ITERATION_BUDGET)
        inner = min(ITERATION_BUDGET, times * max(n, 1))
        names = {_one(fields, k).decode("utf-8", "replace") for k in (1, 8)} - {""}
        scope = dict.fromkeys(names, Value(over.element, over.element))
        scope[_one(fields, 3).decode("utf-8", "replace")] = Value(max(init.size, n), over.size)
        self._scopes.append(scope)
        try:
            self.of(_one(fields, 5), inner, depth)
            step = self.of(_one(fields, 6), inner, depth)
            return self.of(_one(fields, 7), times, depth) if 7 in fields else step
        finally:
            self._scopes.pop()


_HANDLERS = {
    3: Estimate._constant,
    4: Estimate._ident,
    5: Estimate._select,
    6: Estimate._call,
    7: Estimate._list,
    8: Estimate._struct,
    9: Estimate._comprehension,
}

_SCANS = {"contains", "startsWith", "endsWith", "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"}


def _call_cost(function: str, args: list[Value]) -> tuple[int, Value]:
    """Units of one call beyond its arguments, and what it gives."""
    sizes = [a.size for a in args]
    if function == "_+_":
        return sum(sizes), Value(sum(sizes), max((a.element for a in args), default=1))
    if function == "matches":
        # RE2 is linear in the text; compiling the pattern costs its length, many times.
        return sum(sizes[:1]) + 10 * sum(sizes[1:]), Value(1)
    if function in _SCANS or function == "@in":
        return sum(sizes), Value(1)
    if function == "_[_]":
        return 1, Value(args[0].element if args else 1, args[0].element if args else 1)
    if function in {"_&&_", "_||_", "!_", "_?_:_", "size", "has", "@not_strictly_false"}:
        return 1, Value(max(sizes[1:], default=1)) if function == "_?_:_" else Value(1)
    return sum(sizes) + 1, Value(max(sizes, default=1))  # conversions and the rest


def estimate(serialized: bytes) -> int:
    """Estimated units of one evaluation of a compiled expression (its
    ``serialize()``); CostError when it cannot be estimated."""
    found = Estimate()
    try:
        found.of(checked_expr(serialized))
    except (IndexError, UnicodeError) as e:
        raise CostError(f"the checked expression could not be read: {e}") from e
    return found.units
