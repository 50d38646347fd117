"""Which devices each instance of an application gets at its site: pure.

Placement decides that a site has enough devices for an application
(``checks``); binding then names them, per instance (replica) and per requirement of
``spec.devices``, in the Assignment's ``spec.devices``. The agent hands them to the
instance (``EDGEPLANE_DEVICE_<i>_ADDRESS`` ..., and a JSON file).

* A device is exclusive to one instance unless the requirement says ``shared: true``;
  a shared requirement may use a device other shared requirements use, never one held
  exclusively, and an exclusive one never a device anybody else uses.
* Sticky: an instance keeps the devices it was given while they stay Available and
  still match, so a new device at the site moves nothing. Those kept are reserved
  before anything new is handed out, across every application of the site.
* A device that goes Unavailable (after its discovery grace period) is replaced by a
  free one that matches; with none free the instance gets fewer, ``missing`` says how
  many, and placement (which counts Available devices) moves the application when
  the site no longer has enough.

Deterministic: assignments in name order, devices in name order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.selectors import Selector, selector_from_dict
from edgeplane.api.wire import Object

DEVICES_PER_ASSIGNMENT_MAX = 1024
"""As ``api.assignments``: the devices one Assignment names, all instances together."""
Slot = tuple[str, int, int]
"""(assignment, instance, requirement)."""


@dataclass
class _Uses:
    exclusive: dict[str, Slot] = field(default_factory=dict)
    shared: dict[str, set[Slot]] = field(default_factory=dict)

    def free_for(self, device: str, shared: bool) -> bool:
        if device in self.exclusive:
            return False
        return shared or device not in self.shared

    def take(self, device: str, slot: Slot, shared: bool) -> None:
        if shared:
            self.shared.setdefault(device, set()).add(slot)
        else:
            self.exclusive[device] = slot


@dataclass(frozen=True)
class Bound:
    assignments: dict[str, Object]
    """Every desired Assignment, those that need devices with ``spec.devices``."""
    missing: dict[str, int]
    """Assignment -> devices it should have and could not get."""


def bind_devices(
    desired: Mapping[str, Object],
    apps: Mapping[str, Object],
    devices: list[Object],
    stored: Mapping[str, Object],
) -> Bound:
    available = _available_by_site(devices)
    wants = _wants(desired, apps)
    uses: dict[str, _Uses] = {}
    chosen: dict[Slot, list[str]] = {}
    for slot, (site, selector, count, shared) in wants.items():  # kept first
        site_uses = uses.setdefault(site, _Uses())
        kept = [
            d
            for d in _held(stored.get(slot[0]), slot)
            if d in available.get(site, {})
            and selector.matches(available[site][d]["labels"])
            and site_uses.free_for(d, shared)
        ][:count]
        for d in kept:
            site_uses.take(d, slot, shared)
        chosen[slot] = kept
    missing: dict[str, int] = {}
    for slot, (site, selector, count, shared) in wants.items():
        site_uses = uses[site]
        for name, device in available.get(site, {}).items():
            if len(chosen[slot]) >= count:
                break
            fits = name not in chosen[slot] and selector.matches(device["labels"])
            if fits and site_uses.free_for(name, shared):
                site_uses.take(name, slot, shared)
                chosen[slot].append(name)
        if short := count - len(chosen[slot]):
            missing[slot[0]] = missing.get(slot[0], 0) + short
    return Bound(_with_devices(desired, chosen, available), missing)


def _wants(
    desired: Mapping[str, Object], apps: Mapping[str, Object]
) -> dict[Slot, tuple[str, Selector, int, bool]]:
    found: dict[Slot, tuple[str, Selector, int, bool]] = {}
    for name in sorted(desired):
        spec = desired[name]["spec"]
        app = apps.get(spec["application"])
        requirements = ((app or {}).get("spec") or {}).get("devices") or []
        room = DEVICES_PER_ASSIGNMENT_MAX  # a site's thousands of replicas bind no more
        for r, requirement in enumerate(requirements):
            selector = selector_from_dict(requirement.get("selector") or {})
            count, shared = int(requirement.get("count", 1)), bool(requirement.get("shared"))
            for instance in range(int(spec.get("replicas", 1))):
                if count > room:
                    break
                room -= count
                found[(name, instance, r)] = (spec["site"], selector, count, shared)
    return found


def _held(old: Object | None, slot: Slot) -> list[str]:
    if old is None:
        return []
    return [
        d["name"]
        for d in old["spec"].get("devices") or []
        if (d.get("instance"), d.get("requirement")) == slot[1:]
    ]


def _available_by_site(devices: list[Object]) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for device in sorted(devices, key=lambda d: d["metadata"]["name"]):
        if (device.get("status") or {}).get("phase") not in (None, "Available"):
            continue
        spec = device.get("spec") or {}
        found.setdefault(spec.get("site", ""), {})[device["metadata"]["name"]] = {
            "labels": device["metadata"].get("labels") or {},
            "address": spec.get("address") or "",
            "protocol": spec.get("protocol") or "",
        }
    return found


def _with_devices(
    desired: Mapping[str, Object],
    chosen: Mapping[Slot, list[str]],
    available: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> dict[str, Object]:
    lists: dict[str, list[dict[str, Any]]] = {}
    for (name, instance, r), names in sorted(chosen.items()):
        site = desired[name]["spec"]["site"]
        for device in names:
            facts = available[site][device]
            entry = {"name": device, "instance": instance, "requirement": r}
            entry |= {k: facts[k] for k in ("address", "protocol") if facts[k]}
            lists.setdefault(name, []).append(entry)
    out = dict(desired)
    for name, entries in lists.items():
        obj = desired[name]
        out[name] = {**obj, "spec": {**obj["spec"], "devices": entries}}  # never mutate
    return out
