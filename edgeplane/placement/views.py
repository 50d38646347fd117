"""Wire objects (as the store returns them) into the frozen views placement reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes
from edgeplane.api.selectors import Selector, selector_from_dict
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import (
    AppView,
    DeviceNeed,
    Locality,
    SiteView,
    Spread,
    StaticWeight,
    TaintView,
    TolerationView,
    Weights,
)

Object = Mapping[str, Any]


def _cpu(value: Any) -> int | None:
    return None if value is None else cpu_millis(Quantity.parse(value))


def _memory(value: Any) -> int | None:
    return None if value is None else memory_bytes(Quantity.parse(value))


def site_view(obj: Object, devices: Sequence[Mapping[str, str]] = ()) -> SiteView:
    """``devices``: the labels of the available Devices at this site."""
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    # Capacity, not allocatable: agents report allocatable as what is left after the
    # workloads they run, and placement already subtracts those (its ledger), so
    # allocatable would count them twice.
    capacity = status.get("capacity") or {}
    location = spec.get("location")
    declared, reported = runtime_sources(obj)
    return SiteView(
        name=obj["metadata"]["name"],
        labels=obj["metadata"].get("labels") or {},
        phase=site_phase(status.get("phase")),
        unschedulable=bool(spec.get("unschedulable")),
        cpu_millis=_cpu(capacity.get("cpu")),
        memory_bytes=_memory(capacity.get("memory")),
        taints=tuple(
            TaintView(t["key"], t.get("value"), t["effect"]) for t in spec.get("taints") or ()
        ),
        location=(float(location["lat"]), float(location["lon"])) if location else None,
        devices=tuple(devices),
        runtimes=site_runtimes(obj),
        declared_runtimes=declared,
        reported_runtimes=reported,
    )


def site_phase(value: Any) -> SitePhase | None:
    """The phase as the API's enum; None when absent or unknown (a newer hub's phase,
    say: placement then treats the site as of unknown phase, not as Online)."""
    try:
        return None if value is None else SitePhase(value)
    except ValueError:
        return None


def site_runtimes(obj: Object) -> tuple[str, ...]:
    """What a site runs: what it declares (``spec.runtimes``, else ``spec.runtime``)
    and its agent runs (``status.inventory.runtimes``, else ``.runtime``) once the agent
    has reported; the declared ones before; ``process`` when neither says."""
    declared, reported = _declared(obj), _reported(obj)
    if declared and reported:
        return tuple(r for r in declared if r in reported)
    return declared or reported or ("process",)


def _declared(obj: Object) -> tuple[str, ...]:
    spec = obj.get("spec") or {}
    runtimes = spec.get("runtimes") or ([spec["runtime"]] if spec.get("runtime") else [])
    return tuple(sorted({str(r) for r in runtimes}))


def _reported(obj: Object) -> tuple[str, ...]:
    inventory = (obj.get("status") or {}).get("inventory") or {}
    runtimes = inventory.get("runtimes") or (
        [inventory["runtime"]] if inventory.get("runtime") else []
    )
    return tuple(sorted({str(r) for r in runtimes}))


def runtime_sources(obj: Object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(declared, reported) when the agent runs less than the site declares, else
    ((), ()): what the runtime check's reason names."""
    declared, reported = _declared(obj), _reported(obj)
    if declared and reported and not set(declared) <= set(reported):
        return declared, reported
    return (), ()


def devices_by_site(devices: Iterable[Object]) -> dict[str, list[Mapping[str, str]]]:
    """The labels of each site's available Devices (phase absent or Available)."""
    found: dict[str, list[Mapping[str, str]]] = {}
    for device in sorted(devices, key=lambda d: d["metadata"]["name"]):
        if (device.get("status") or {}).get("phase") in (None, "Available"):
            labels = device["metadata"].get("labels") or {}
            found.setdefault(device["spec"]["site"], []).append(labels)
    return found


def _selector(raw: Any) -> Selector:
    return selector_from_dict(raw) if raw else Selector()


def _replicas(obj: Object) -> int:
    """``placement.replicas``; for an autoscaled application, the count its autoscaler
    wants (``status.autoscaling.desiredReplicas``) once it has said one."""
    wanted = ((obj.get("status") or {}).get("autoscaling") or {}).get("desiredReplicas")
    if obj["spec"].get("autoscaling") and isinstance(wanted, int) and wanted >= 0:
        return wanted
    return int((obj["spec"].get("placement") or {}).get("replicas") or 0)


def app_view(obj: Object) -> AppView:
    spec = obj["spec"]
    placement, resources = spec.get("placement") or {}, spec.get("resources") or {}
    locality = placement.get("locality")
    near = (locality or {}).get("near")
    scoring = placement.get("scoring") or {}
    defaults = Weights()
    return AppView(
        name=obj["metadata"]["name"],
        every_site=placement.get("mode") == "EverySite",
        replicas=_replicas(obj),
        selector=_selector(placement.get("selector")),
        site_groups=tuple(placement.get("siteGroups") or ()),
        priority=int(placement.get("priority") or 0),
        cpu_millis=_cpu(resources.get("cpu")) or 0,
        memory_bytes=_memory(resources.get("memory")) or 0,
        spread=tuple(
            Spread(
                c["topologyKey"], int(c.get("maxSkew") or 1), c.get("minGroups"), c.get("maxGroups")
            )
            for c in placement.get("spread") or ()
        ),
        tolerations=tuple(
            TolerationView(
                t.get("key"), t.get("operator", "Equal"), t.get("value"), t.get("effect")
            )
            for t in placement.get("tolerations") or ()
        ),
        devices=tuple(
            DeviceNeed(_selector(d.get("selector")), int(d.get("count") or 1))
            for d in spec.get("devices") or ()
        ),
        divided=placement.get("division") == "Divided",
        static_weights=tuple(
            StaticWeight(int(w["weight"]), _selector(w.get("selector")), w.get("siteGroup"))
            for w in placement.get("weights") or ()
        ),
        max_per_site=_count(placement.get("maxPerSite")),
        locality=Locality(
            (float(near["lat"]), float(near["lon"])) if near else None,
            locality.get("siteGroup"),
            locality.get("maxDistanceKm"),
        )
        if locality
        else None,
        weights=Weights(
            balance=_or(scoring.get("balance"), defaults.balance),
            locality=_or(scoring.get("locality"), defaults.locality),
            stickiness=_or(scoring.get("stickiness"), defaults.stickiness),
        ),
        runtime="kubernetes" if (spec.get("workload") or {}).get("kubernetes") else "process",
    )


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _or(value: Any, default: float) -> float:
    return default if value is None else float(value)


def group_selectors(groups: Iterable[Object]) -> dict[str, Selector]:
    return {g["metadata"]["name"]: selector_from_dict(g["spec"]["selector"]) for g in groups}
