"""What the site's discovery has found, across scans and handlers: pure, no I/O.

Each scan of a (profile, protocol) replaces what that scan saw last time; a device
missing from it keeps its ``last_seen`` and stays Available for the profile's grace
period, then is reported Unavailable. One device seen by two handlers (an ONVIF camera
that also announces itself over mDNS) is one entry when both give its vendor and serial
(``key_of``). The report is what ``POST /sites/{site}/devices`` takes; the hub names and
writes the Device objects (``hub.devices``).

Bounded: at most ``DEVICES_PER_SITE_MAX`` entries (the ones unavailable longest go
first, and what still does not fit is counted in ``overflow``); attributes and labels
are clipped to what a Device holds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edgeplane.agent.discovery.base import ATTRIBUTES_MAX, Found, clip

DEVICES_PER_SITE_MAX = 1000
"""As ``api.discovery.DEVICES_PER_SITE_MAX`` (the agent loads no pydantic models)."""
LABEL_VALUE_MAX = 63
ATTRIBUTE_KEY_MAX = 64
Scan = tuple[str, str]
"""(profile, protocol)."""
_NOT_LABEL = re.compile(r"[^a-z0-9._-]+")
_EDGES = re.compile(r"^[^a-z0-9]+|[^a-z0-9]+$")


@dataclass(frozen=True)
class Entry:
    found: Found
    origins: Mapping[Scan, tuple[Mapping[str, str], float]]
    """Every scan that has seen it, with its profile's labels and grace period."""
    last_seen: float
    scans: frozenset[Scan] = field(default_factory=frozenset)
    """The scans that saw it the last time they ran."""

    @property
    def labels(self) -> dict[str, str]:
        """The labels of every profile that found it, in profile order (a fixed union:
        two profiles with different labels must not flip them report to report)."""
        merged: dict[str, str] = {}
        for scan in sorted(self.origins):
            merged.update(self.origins[scan][0])
        return merged

    @property
    def grace(self) -> float:
        return max(grace for _, grace in self.origins.values())

    def available(self, now: float) -> bool:
        return bool(self.scans) or now - self.last_seen <= self.grace


def key_of(found: Found) -> str:
    """Vendor and serial when both are known (the same device through two protocols),
    else the handler's identity. Not for a JSON announcement over MQTT: anyone may
    publish one, and naming a real camera's serial must not take its Device over."""
    vendor, serial = label_value(found.vendor), clip(found.serial, 128)
    if vendor and serial and not found.identity.startswith("mqtt:"):
        return f"serial:{vendor}:{serial}"
    return clip(found.identity)


def label_value(text: str) -> str:
    """``text`` as a label value: ``Acme Corp.`` -> ``acme-corp``; empty when nothing of
    it fits."""
    lowered = _NOT_LABEL.sub("-", text.lower())
    return _EDGES.sub("", _EDGES.sub("", lowered)[:LABEL_VALUE_MAX])


class Inventory:
    def __init__(self, limit: int = DEVICES_PER_SITE_MAX) -> None:
        self.limit = limit
        self.entries: dict[str, Entry] = {}
        self.overflow = 0
        """Devices left out of the last scans because the site holds ``limit`` already."""

    def saw(
        self,
        scan: Scan,
        found: Iterable[Found],
        labels: Mapping[str, str],
        grace: float,
        now: float | None = None,
    ) -> None:
        """What scan ``(profile, protocol)`` found just now."""
        at = time.time() if now is None else now
        self.missed(scan)
        seen: set[str] = set()
        for device in found:
            key = key_of(device)
            if not key or key in seen:
                continue
            seen.add(key)
            old = self.entries.get(key)
            if old is None and not self._room(at):
                self.overflow += 1
                continue
            scans = (old.scans if old else frozenset()) | {scan}
            origins = {**(old.origins if old else {}), scan: (dict(labels), grace)}
            merged = _merged(old.found, device) if old else device
            self.entries[key] = Entry(merged, origins, at, scans)

    def missed(self, scan: Scan) -> None:
        """Scan ``scan`` ran and saw nothing it saw before (or failed): what it saw
        ages from when it was last seen, through the grace period."""
        for key, entry in list(self.entries.items()):
            if scan in entry.scans:
                self.entries[key] = replace(entry, scans=entry.scans - {scan})

    def keep_only(self, scans: set[Scan]) -> None:
        """Forget what only scans no longer run found (their profile went away): the hub
        marks those devices Unavailable once the report leaves them out."""
        for key, entry in list(self.entries.items()):
            origins = {s: o for s, o in entry.origins.items() if s in scans}
            if not origins:
                del self.entries[key]
            elif len(origins) < len(entry.origins):
                self.entries[key] = replace(entry, origins=origins, scans=entry.scans & scans)

    def report(self, now: float | None = None) -> list[dict[str, Any]]:
        at = time.time() if now is None else now
        return [_reported(key, e, at) for key, e in sorted(self.entries.items())]

    def _room(self, now: float) -> bool:
        if len(self.entries) < self.limit:
            return True
        gone = [(e.last_seen, k) for k, e in self.entries.items() if not e.available(now)]
        if not gone:
            return False
        del self.entries[min(gone)[1]]
        return True

    def dump(self) -> list[dict[str, Any]]:
        """For the agent's data dir: what survives a restart (when each was last seen)."""
        return [
            {
                "key": key,
                "found": _found_dict(e.found),
                "origins": [[list(s), dict(o[0]), o[1]] for s, o in e.origins.items()],
                "lastSeen": e.last_seen,
            }
            for key, e in self.entries.items()
        ]

    def load(self, saved: object) -> None:
        """What ``dump`` wrote; anything malformed is skipped (a file is not trusted
        further than its shape)."""
        if not isinstance(saved, list):
            return
        for item in saved[: self.limit]:
            try:
                entry = _loaded(item)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                continue
            if entry is not None:
                self.entries[str(item["key"])] = entry


_FOUND_FIELDS = set(Found.__dataclass_fields__)


def _loaded(item: Any) -> Entry | None:
    """One entry of ``dump``'s list, every field checked for its type."""
    raw = item["found"]
    texts = {k: str(raw[k]) for k in _FOUND_FIELDS - {"attributes"} if k in raw}
    attributes = {str(k): str(v) for k, v in dict(raw.get("attributes") or {}).items()}
    found = Found(**texts, attributes=attributes)
    origins = {
        (str(s[0]), str(s[1])): ({str(k): str(v) for k, v in dict(labels).items()}, float(g))
        for s, labels, g in item["origins"]
    }
    return Entry(found, origins, float(item["lastSeen"])) if origins else None


def _found_dict(found: Found) -> dict[str, Any]:
    return {name: getattr(found, name) for name in _FOUND_FIELDS} | {
        "attributes": dict(found.attributes)
    }


def _merged(old: Found, new: Found) -> Found:
    """The same device seen again: the first protocol and address stay (a device seen
    over two protocols must not flip its Device, and with it what instances are given,
    scan to scan); what the other protocol says fills the gaps, its address an
    attribute."""
    attributes = {**old.attributes, **new.attributes}
    if old.protocol != new.protocol:
        attributes[f"{new.protocol}.address"] = new.address
        new = replace(new, identity=old.identity, protocol=old.protocol, address=old.address)
    return replace(
        new,
        device_class=new.device_class or old.device_class,
        vendor=new.vendor or old.vendor,
        model=new.model or old.model,
        serial=new.serial or old.serial,
        attributes=attributes,
    )


def _reported(key: str, entry: Entry, now: float) -> dict[str, Any]:
    found = entry.found
    labels = {
        name: value
        for name, value in (
            ("class", label_value(found.device_class)),
            ("protocol", label_value(found.protocol)),
            ("vendor", label_value(found.vendor)),
            ("model", label_value(found.model)),
        )
        if value
    }
    labels.update(entry.labels)
    available = entry.available(now)
    shown: dict[str, Any] = {
        "key": key,
        "protocol": found.protocol,
        "address": clip(found.address, 2048),
        "labels": labels,
        "attributes": _attributes(found),
        "available": available,
        "lastSeen": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.last_seen)),
    }
    if not available:
        shown["message"] = f"not seen by discovery for more than {entry.grace:g} s"
    return shown


def _attributes(found: Found) -> dict[str, str]:
    named = {"vendor": found.vendor, "model": found.model, "serial": found.serial}
    merged = {**{k: v for k, v in named.items() if v}, **found.attributes}
    return {
        clip(k, ATTRIBUTE_KEY_MAX): clip(v)
        for k, v in list(merged.items())[:ATTRIBUTES_MAX]
        if clip(k, ATTRIBUTE_KEY_MAX)
    }


def fit(devices: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The report within ``limit`` bytes of JSON (the hub's body limit): attributes go
    first (what a device says of itself is what grows), then the last devices; how many
    were left out. A report over the limit would be refused whole, every time."""
    if _size(devices) <= limit:
        return devices, 0
    slim = [{**d, "attributes": {}} for d in devices]
    while slim and _size(slim) > limit:
        del slim[-max(1, len(slim) // 10) :]
    return slim, len(devices) - len(slim)


def _size(devices: list[dict[str, Any]]) -> int:
    return len(json.dumps({"devices": devices}, separators=(",", ":")))
