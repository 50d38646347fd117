"""Kubernetes resource quantities: ``500m`` CPU, ``256Mi`` memory, ``1e3``.

A ``Quantity`` keeps the text the user wrote (so objects round-trip unchanged) and
its exact decimal value. In models, use the ``QuantityField`` annotated type.

pydantic is imported only when a model is built, so the site agent can parse
quantities without loading it (it counts against the agent's memory footprint).
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Annotated, Any

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import core_schema

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Fully matched, ASCII digits only: ``\d`` takes '٣' (which Decimal reads as 3) and
# ``$`` a final newline. The length cap bounds Decimal's work on a hostile number.
_QUANTITY = re.compile(
    r"(?P<number>[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))"
    r"((?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?"
)
MAX_QUANTITY_CHARS = 64


class QuantityError(ValueError):
    pass


@functools.total_ordering
class Quantity:
    """An exact, non-negative amount with the text it was written as.

    Equality and order go by value: ``Quantity.parse("1Gi") == Quantity.parse("1073741824")``.
    """

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: Decimal) -> None:
        self.text, self.value = text, value

    @classmethod
    def parse(cls, raw: str | int | float) -> Quantity:
        text = str(raw)
        if len(text) > MAX_QUANTITY_CHARS:
            raise QuantityError(
                f"{text[:20]!r}... is too long: a quantity is at most {MAX_QUANTITY_CHARS} "
                "characters, e.g. '500m' or '256Mi'"
            )
        match = _QUANTITY.fullmatch(text)
        if not match:
            raise QuantityError(
                f"{text!r} is not a quantity: write a number with an optional suffix, "
                "e.g. '500m' or '2' for CPU, '256Mi' or '1G' for memory"
            )
        value = _value(match)
        if value > _MAX:
            raise QuantityError(f"{text!r} is too large: quantities must be below 2^63")
        if value < 0:
            raise QuantityError(f"{text!r} is negative: quantities must be 0 or more")
        return cls(text, value)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(self.value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        def validate(raw: Any) -> Quantity:
            if isinstance(raw, Quantity):
                return raw
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise QuantityError("must be a quantity string such as '500m' or '256Mi'")
            return cls.parse(raw)

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.str_schema(), core_schema.float_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


_MAX = Decimal(2**63 - 1)


def _value(match: re.Match[str]) -> Decimal:
    number = Decimal(match["number"])
    if match["exponent"] is not None:
        # Clamp before scaling: a huge exponent would overflow Decimal, not just the cap.
        return number.scaleb(max(-100, min(100, int(match["exponent"]))))
    return number * _SUFFIXES[match["suffix"] or ""]


QuantityField = Annotated[Quantity, "quantity"]


def cpu_millis(quantity: Quantity) -> int:
    """CPU in millicores, rounded up as Kubernetes does."""
    return int((quantity.value * 1000).to_integral_value(rounding=ROUND_CEILING))


def memory_bytes(quantity: Quantity) -> int:
    """Memory in bytes, rounded up."""
    return int(quantity.value.to_integral_value(rounding=ROUND_CEILING))
