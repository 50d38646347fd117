"""The siteGroups check: a site in none of the application's SiteGroups (or one of
them does not exist)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from edgeplane.placement.checks.base import LabelCheck
from edgeplane.placement.context import Scope
from edgeplane.placement.model import AppView


class SiteGroupsCheck(LabelCheck):
    name = "siteGroups"
    order = 20

    def key(self, app: AppView) -> Hashable:
        return app.site_groups

    def reason(self, scope: Scope, app: AppView, labels: Mapping[str, str]) -> str | None:
        groups = scope.groups
        if not app.site_groups:
            return None
        if missing := [g for g in app.site_groups if g not in groups]:
            return f"siteGroup {missing[0]} does not exist"
        if not any(groups[g].matches(labels) for g in app.site_groups):
            return "are in none of the siteGroups"
        return None
