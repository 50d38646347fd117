"""Reasons and the metrics of one application's filter.

``Reasons`` interns reason texts as small integers so arrays can carry them (0: no
reason). ``Metrics`` is what the filter (``filtering``) returns beside the feasible
sites, as Nomad's AllocMetric: sites evaluated, sites filtered per check, the reason
histogram and the capacity dimensions exhausted; a ``Decision``'s reason lines come
from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class Reasons:
    """Reason texts as small integers (0: no reason), so arrays can carry them."""

    def __init__(self) -> None:
        self.text = [""]
        self._code = {"": 0}

    def __call__(self, text: str | None) -> int:
        if not text:
            return 0
        code = self._code.get(text)
        if code is None:
            code = self._code[text] = len(self.text)
            self.text.append(text)
        return code


def histogram(reasons: Mapping[str, int]) -> tuple[str, ...]:
    """Nomad-style lines: "40 site(s) had too little memory left (need 512Mi)"."""
    return tuple(f"{n} site(s) {why}" for why, n in sorted(reasons.items()))


@dataclass(frozen=True)
class Metrics:
    """What filtering one application found."""

    evaluated: int = 0
    """Sites the filter started from (the whole fleet)."""
    filtered: Mapping[str, int] = field(default_factory=dict)
    """Per check (by name): the sites it left out."""
    reasons: Mapping[str, int] = field(default_factory=dict)
    """Per reason text: the sites left out for it (each under its first failing check)."""
    exhausted: Mapping[str, int] = field(default_factory=dict)
    """Per capacity dimension (cpu, memory): the sites left out for lack of it."""
    checked: frozenset[str] = frozenset()
    """The checks that saw at least one candidate (the others had none left to see)."""

    def lines(self) -> tuple[str, ...]:
        return histogram(self.reasons)
