"""The selector check: a site whose labels the application's selector does not match."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from edgeplane.placement.checks.base import LabelCheck
from edgeplane.placement.context import Scope
from edgeplane.placement.model import AppView


class SelectorCheck(LabelCheck):
    name = "selector"
    order = 10

    def key(self, app: AppView) -> Hashable:
        return app.selector

    def reason(self, scope: Scope, app: AppView, labels: Mapping[str, str]) -> str | None:
        return None if app.selector.matches(labels) else "did not match the selector"
