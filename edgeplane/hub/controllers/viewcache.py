"""Placement's views of stored objects, kept by resourceVersion: an unchanged object
gives the same view from pass to pass, and the planner compares views to find what
changed (``controllers.placement``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgeplane.api.wire import Object
from edgeplane.placement.model import AppView, SiteView
from edgeplane.placement.views import app_view, site_view


class ViewCache:
    """Views of objects by resourceVersion, so an unchanged object gives the same view
    from pass to pass (the planner compares views to find what changed)."""

    def __init__(self) -> None:
        self._sites: dict[str, tuple[object, SiteView]] = {}
        self._apps: dict[str, tuple[object, AppView]] = {}

    def site(self, obj: Object, devices: Sequence[Mapping[str, str]]) -> SiteView:
        name, version = obj["metadata"]["name"], (obj["metadata"].get("resourceVersion"), devices)
        found = self._sites.get(name)
        if found is None or found[0] != version:
            found = self._sites[name] = (version, site_view(obj, devices))
        return found[1]

    def app(self, obj: Object) -> AppView:
        name, version = obj["metadata"]["name"], obj["metadata"].get("resourceVersion")
        found = self._apps.get(name)
        if found is None or found[0] != version or version is None:
            found = self._apps[name] = (version, app_view(obj))
        return found[1]
