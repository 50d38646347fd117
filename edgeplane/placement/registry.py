"""Plugins found, not listed: every concrete subclass of a base class defined in the
modules of a package (the checks, the scorers), in ``order``. A new check or scorer is
then one new module; no list elsewhere to keep in step."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from typing import Any


def discover(package: str, path: Iterable[str], base: type) -> tuple[Any, ...]:
    """One instance of each concrete ``base`` defined in ``package``, by (order, name).
    (Typed by the caller: mypy cannot take an abstract class as a type argument.)"""
    found: list[Any] = []
    for info in pkgutil.iter_modules(path):
        module = importlib.import_module(f"{package}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            mine = issubclass(cls, base) and cls.__module__ == module.__name__
            if mine and not inspect.isabstract(cls):
                found.append(cls())
    return tuple(sorted(found, key=lambda p: (p.order, p.name)))
