"""Discovered devices: what a site's agent needs to look for, and what it found.

* ``GET /sites/{site}/discoveryprofiles``: the DiscoveryProfiles whose
  ``siteSelector`` matches the site's labels (no selector: every site), from the
  informer's objects.
* ``POST /sites/{site}/devices``: the site's whole discovered inventory (at most
  ``DEVICES_PER_SITE_MAX``). The hub writes ``Device`` objects of that site only: each
  named from the site and the device's key (``device_name``), labelled
  ``edgeplane.io/site`` and ``edgeplane.io/discovered``; a name held by another site's
  device or by one an operator wrote is refused for that device alone. Discovered
  devices of the site that the report no longer holds (their profile went away, or it
  stopped matching the site) become ``Unavailable``. Only changes are written, and
  ``status.lastSeen`` of a device that stays Available at most every
  ``LAST_SEEN_REFRESH_SECONDS``: 10,000 sites reporting every few seconds must not
  write every device each time.

The agent decides Available/Unavailable (it holds the grace period and the scan
times); the site's reach is its own name, from its credential, never the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.api.discovery import DEVICES_PER_SITE_MAX
from edgeplane.api.labels import check_label_key, check_label_value
from edgeplane.api.selectors import LabelSelector, Operator, Requirement, Selector
from edgeplane.api.validation import validate_object
from edgeplane.api.wellknown import SITE_LABEL, reserved_label
from edgeplane.api.wire import Object
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.informer import Informer
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.store.errors import AlreadyExists, Conflict, NotFound
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")
log = logging.getLogger("edgeplane.hub.devices")
DISCOVERED_LABEL = "edgeplane.io/discovered"
LAST_SEEN_REFRESH_SECONDS = 60.0
KEY_MAX_CHARS = 256
REFUSALS_SHOWN = 10
REFUSAL_MAX_CHARS = 1024
GONE_MESSAGE = "the site's discovery no longer looks for it (its profile went away or changed)"


@router.get("/sites/{site}/discoveryprofiles", response_model=None)
async def site_profiles(request: Request, site: str) -> Response:
    informer = _ready(request)
    labels = ((informer.get("Site", site) or {}).get("metadata") or {}).get("labels") or {}
    items = []
    for name, profile in sorted(informer.items("DiscoveryProfile").items()):
        spec = profile.get("spec") or {}
        if _selects(spec.get("siteSelector"), labels):
            items.append({"name": name, "spec": spec})
    return ObjectResponse({"profiles": items})


@router.post("/sites/{site}/devices", response_model=None)
async def report(request: Request, site: str) -> Response:
    body = await json_body(request)
    devices = body.get("devices") if isinstance(body, dict) else None
    if not isinstance(devices, list):
        raise bad_request('a device report is {"devices": [...]}', "devices")
    if len(devices) > DEVICES_PER_SITE_MAX:
        raise ApiError(
            413,
            "TooManyDevices",
            f"{len(devices)} devices in one report: a site reports at most "
            f"{DEVICES_PER_SITE_MAX} (narrow its DiscoveryProfiles)",
            "devices",
        )
    store: Store = request.app.state.store
    stored = await _site_devices(store, site)
    outcome = Outcome()
    wanted: dict[str, Object] = {}
    # Validating 1,000 devices takes tens of milliseconds: off the event loop.
    checked = await asyncio.to_thread(lambda: [outcome.checked(site, raw) for raw in devices])
    for obj in checked:
        if obj is None:
            continue
        name = obj["metadata"]["name"]
        if name in wanted:
            outcome.refuse(name, "reported twice in one report")
            continue
        wanted[name] = obj
    absent = _oldest_first([d for n, d in stored.items() if n not in wanted])
    held = len(stored)
    for name, obj in wanted.items():
        old = stored[name] if name in stored else await _get(store, name)
        if old is None and held >= DEVICES_PER_SITE_MAX:
            if not absent:
                outcome.refuse(name, f"the site holds {held} devices, the most it may")
                continue
            await _delete(store, absent.pop(0))  # room from the longest gone
            held -= 1
        held += old is None
        await _write(store, old, obj, site, outcome)
    for old in absent:
        await _mark_gone(store, old, outcome)
    return ObjectResponse(outcome.shown())


class Outcome:
    """What a report did, for the answer (and the agent's log)."""

    def __init__(self) -> None:
        self.written = self.unchanged = 0
        self.refused: list[dict[str, str]] = []
        self.refused_count = 0

    def refuse(self, key: str, why: str) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSALS_SHOWN:
            self.refused.append({"key": key[:KEY_MAX_CHARS], "why": why})

    def checked(self, site: str, raw: object) -> Object | None:
        """The Device ``raw`` describes, validated; None (refused) when it is not one."""
        if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
            self.refuse("?", "each device needs a key (a string)")
            return None
        key = raw["key"]
        if not 0 < len(key) <= KEY_MAX_CHARS:
            self.refuse(key, f"a key has 1 to {KEY_MAX_CHARS} characters")
            return None
        try:
            obj = device_object(site, raw)
            validate_object(obj, "Device")
        except (ValueError, TypeError) as e:  # InvalidObject names each field
            self.refuse(key, str(e)[:REFUSAL_MAX_CHARS])
            return None
        return obj

    def shown(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "refused": self.refused_count,
            "refusals": self.refused,
        }


def device_name(site: str, protocol: str, key: str) -> str:
    """``<site>.<protocol>-<hash>``: readable, and the same for the same device (a
    hash of the site and the key, so two sites never share one)."""
    digest = hashlib.sha256(f"{site}\0{key}".encode()).hexdigest()[:12]
    return f"{site}.{protocol}-{digest}"


def device_object(site: str, raw: Mapping[str, Any]) -> Object:
    """The Device a site's report entry stands for (not validated yet)."""
    protocol = str(raw.get("protocol") or "")
    labels = _labels(raw.get("labels"))
    labels.update({SITE_LABEL: site, DISCOVERED_LABEL: "true"})
    phase = "Available" if raw.get("available") is True else "Unavailable"
    status: dict[str, Any] = {"phase": phase}
    if isinstance(raw.get("lastSeen"), str):
        status["lastSeen"] = raw["lastSeen"]
    if isinstance(raw.get("message"), str):
        status["message"] = raw["message"]
    spec: dict[str, Any] = {"site": site, "protocol": protocol, "address": raw.get("address")}
    if raw.get("attributes"):
        spec["attributes"] = raw["attributes"]
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": device_name(site, protocol, raw["key"]), "labels": labels},
        "spec": spec,
        "status": status,
    }


def _labels(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("labels must be a map of strings")
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("labels must be a map of strings")
        if problem := check_label_key(key) or check_label_value(value):
            raise ValueError(f"label {key}={value}: {problem}")
        if reserved_label(key):
            raise ValueError(f"label {key}: the edgeplane.io/ prefix is the hub's")
    return dict(raw)


async def _write(
    store: Store, old: Object | None, wanted: Object, site: str, outcome: Outcome
) -> None:
    name = wanted["metadata"]["name"]
    try:
        if old is None:
            await store.create(wanted)
            outcome.written += 1
            return
        if not _ours(old, site):
            outcome.refuse(name, "the name is held by a device this site did not discover")
            return
        meta = old["metadata"].copy()
        meta["labels"] = wanted["metadata"].get("labels") or {}
        due = _status_due(old.get("status") or {}, wanted["status"])
        spec = wanted["spec"]
        # What a device says of itself (an OPC UA node's value) may change every scan:
        # attributes alone are written with the lastSeen refresh, not each report.
        moved = _identity(spec) != _identity(old.get("spec") or {})
        if meta != old["metadata"] or moved or (due and spec != old.get("spec")):
            old = await store.replace({**old, "metadata": meta, "spec": spec})
            outcome.written += 1
        if due:
            await store.replace_status({**old, "status": wanted["status"]})
            outcome.written += 1
        else:
            outcome.unchanged += 1
    except (AlreadyExists, Conflict, NotFound):
        outcome.refuse(name, "changed meanwhile: the next report writes it")


def _oldest_first(devices: list[Object]) -> list[Object]:
    """Unavailable before Available, then by when they were last seen."""

    def order(d: Object) -> tuple[bool, str, str]:
        status = d.get("status") or {}
        seen = status.get("lastSeen")
        return status.get("phase") != "Unavailable", str(seen or ""), d["metadata"]["name"]

    return sorted(devices, key=order)


async def _delete(store: Store, old: Object) -> None:
    with contextlib.suppress(NotFound, Conflict):
        version = old["metadata"].get("resourceVersion")
        await store.delete("Device", old["metadata"]["name"], version)


async def _mark_gone(store: Store, old: Object, outcome: Outcome) -> None:
    status = old.get("status") or {}
    if status.get("phase") == "Unavailable":
        return
    try:
        await store.replace_status(
            {**old, "status": {**status, "phase": "Unavailable", "message": GONE_MESSAGE}}
        )
        outcome.written += 1
    except (Conflict, NotFound):
        log.debug("device %s changed meanwhile", old["metadata"]["name"])


def _identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "attributes"}


def _status_due(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the stored status must change: a phase or message that differs, or a
    lastSeen older than ``LAST_SEEN_REFRESH_SECONDS``."""
    if old.get("phase") != new.get("phase") or old.get("message") != new.get("message"):
        return True
    before, after = _when(old.get("lastSeen")), _when(new.get("lastSeen"))
    if after is None:
        return False
    return before is None or (after - before).total_seconds() >= LAST_SEEN_REFRESH_SECONDS


def _when(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ours(obj: Object, site: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    spec_site = (obj.get("spec") or {}).get("site")
    return labels.get(DISCOVERED_LABEL) == "true" and spec_site == site


async def _site_devices(store: Store, site: str) -> dict[str, Object]:
    """The devices this site discovered before (a query on their labels: the store's
    index, not every device of the fleet)."""
    selector = Selector(
        (
            Requirement(SITE_LABEL, Operator.IN, (site,)),
            Requirement(DISCOVERED_LABEL, Operator.IN, ("true",)),
        )
    )
    found: dict[str, Object] = {}
    token = None
    while True:
        page = await store.list("Device", selector, 1000, token)
        found.update((d["metadata"]["name"], d) for d in page.items if _ours(d, site))
        if not (token := page.continue_token):
            return found


async def _get(store: Store, name: str) -> Object | None:
    try:
        return await store.get("Device", name)
    except NotFound:
        return None


def _selects(selector: object, labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    try:
        return LabelSelector.model_validate(selector).to_selector().matches(labels)
    except ValueError:
        return False  # admission checked it; a stored object of an older schema selects none


def _ready(request: Request) -> Informer:
    informer: Informer = request.app.state.informer
    if not informer.ready:
        raise ApiError(503, "Unavailable", "the hub is starting: send again in a moment")
    return informer
