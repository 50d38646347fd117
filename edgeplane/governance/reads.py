"""What of the application and the site a policy's rules read, found from the text of
their expressions, so verdicts can be shared between applications and sites that
agree on it.

A rule that reads the site only as ``site.labels["k"]``, ``site.labels.k`` or
``"k" in site.labels`` depends on those keys alone: ten thousand sites with a few
hundred label sets give a rule on ``jurisdiction`` two distinct answers to compute,
not a few hundred. The same goes for ``app.metadata.labels``. Any other use of
``site`` or ``app`` (``site.labels.all(...)``, ``app.spec``) reads everything, and
then the whole label set (or the whole application) is the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_STRING = r"""(?:"([^"\\]+)"|'([^'\\]+)')"""
_IDENT = r"([A-Za-z_][A-Za-z0-9_]*)"


def _patterns(root: str) -> list[re.Pattern[str]]:
    prefix = root.replace(".", r"\.")
    return [
        re.compile(rf"\b{prefix}\.labels\s*\[\s*{_STRING}\s*\]"),
        re.compile(rf"{_STRING}\s+in\s+\b{prefix}\.labels\b"),
        re.compile(rf"\b{prefix}\.labels\.{_IDENT}\b(?!\s*\()"),
    ]


_SITE = _patterns("site")
_APP = _patterns("app.metadata")
_SITE_WORD = re.compile(r"\bsite\b")
_APP_WORD = re.compile(r"\bapp\b")


@dataclass(frozen=True)
class Reads:
    """The label keys read (None: more than label keys, so everything counts)."""

    site: frozenset[str] | None
    app: frozenset[str] | None
    app_at_all: bool


def _keys(
    expressions: Iterable[str], patterns: list[re.Pattern[str]], word: re.Pattern[str]
) -> tuple[frozenset[str] | None, bool]:
    keys: set[str] = set()
    mentioned = False
    for expression in expressions:
        rest = expression
        for pattern in patterns:
            for match in pattern.finditer(expression):
                keys.add(next(g for g in match.groups() if g is not None))
            rest = pattern.sub(" ", rest)
        mentioned = mentioned or bool(word.search(expression))
        if word.search(rest):
            return None, True
    return frozenset(keys), mentioned


def reads(expressions: Iterable[str]) -> Reads:
    expressions = list(expressions)
    site, _ = _keys(expressions, _SITE, _SITE_WORD)
    app, app_at_all = _keys(expressions, _APP, _APP_WORD)
    return Reads(site, app, app_at_all)


def project(labels: Mapping[str, str], keys: frozenset[str] | None) -> frozenset[tuple[str, str]]:
    """The part of ``labels`` a rule reading ``keys`` can see."""
    if keys is None:
        return frozenset(labels.items())
    return frozenset((k, labels[k]) for k in keys if k in labels)
