"""The kind registry: names by which users and URLs refer to each resource kind."""

from __future__ import annotations

from dataclasses import dataclass

from edgeplane.api.resources import (
    API_VERSION,
    Application,
    Assignment,
    DataStream,
    Device,
    DiscoveryProfile,
    Policy,
    Resource,
    Revision,
    Site,
    SiteGroup,
)
from edgeplane.api.secrets import Secret

__all__ = ["API_VERSION", "KINDS", "KindInfo", "UnknownKind", "by_plural", "kind_info"]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    model: type[Resource]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.kind.lower(), self.plural, self.singular, *self.short_names)


KINDS: tuple[KindInfo, ...] = (
    KindInfo("Site", "sites", "site", (), Site),
    KindInfo("SiteGroup", "sitegroups", "sitegroup", ("sg",), SiteGroup),
    KindInfo("Application", "applications", "application", ("app", "apps"), Application),
    KindInfo("Policy", "policies", "policy", ("pol",), Policy),
    KindInfo("Assignment", "assignments", "assignment", ("asg",), Assignment),
    KindInfo("Device", "devices", "device", ("dev",), Device),
    KindInfo("Revision", "revisions", "revision", ("rev",), Revision),
    KindInfo("DataStream", "datastreams", "datastream", ("ds",), DataStream),
    KindInfo(
        "DiscoveryProfile", "discoveryprofiles", "discoveryprofile", ("dp",), DiscoveryProfile
    ),
    KindInfo("Secret", "secrets", "secret", ("sec",), Secret),
)

_BY_NAME = {name: info for info in KINDS for name in info.names}
_BY_PLURAL = {info.plural: info for info in KINDS}


class UnknownKind(ValueError):
    def __init__(self, name: str) -> None:
        known = ", ".join(f"{k.kind} ({k.plural})" for k in KINDS)
        super().__init__(f"unknown kind {name!r}: use one of {known}")
        self.name = name


def kind_info(name: str) -> KindInfo:
    """Look a kind up by kind, plural, singular or short name, ignoring case."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise UnknownKind(name) from None


def by_plural(plural: str) -> KindInfo:
    """Look a kind up by its URL plural, exactly."""
    try:
        return _BY_PLURAL[plural]
    except KeyError:
        raise UnknownKind(plural) from None
