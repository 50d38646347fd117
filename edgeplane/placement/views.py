"""Wire objects (as the store returns them) into the frozen views placement reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes
from edgeplane.api.selectors import Selector, selector_from_dict
from edgeplane.placement.simple import AppView, SiteView, TaintView, TolerationView

Object = Mapping[str, Any]


def _cpu(value: Any) -> int | None:
    return None if value is None else cpu_millis(Quantity.parse(value))


def _memory(value: Any) -> int | None:
    return None if value is None else memory_bytes(Quantity.parse(value))


def site_view(obj: Object) -> SiteView:
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    # Capacity, not allocatable: agents report allocatable as what is left after the
    # workloads they run, and placement already subtracts those (its ledger), so
    # allocatable would count them twice.
    capacity = status.get("capacity") or {}
    return SiteView(
        name=obj["metadata"]["name"],
        labels=obj["metadata"].get("labels") or {},
        phase=status.get("phase"),
        unschedulable=bool(spec.get("unschedulable")),
        cpu_millis=_cpu(capacity.get("cpu")),
        memory_bytes=_memory(capacity.get("memory")),
        taints=tuple(
            TaintView(t["key"], t.get("value"), t["effect"]) for t in spec.get("taints") or ()
        ),
    )


def app_view(obj: Object) -> AppView:
    spec = obj["spec"]
    placement, resources = spec.get("placement") or {}, spec.get("resources") or {}
    selector = placement.get("selector")
    return AppView(
        name=obj["metadata"]["name"],
        every_site=placement.get("mode") == "EverySite",
        replicas=int(placement.get("replicas") or 0),
        selector=selector_from_dict(selector) if selector else Selector(),
        site_groups=tuple(placement.get("siteGroups") or ()),
        priority=int(placement.get("priority") or 0),
        cpu_millis=_cpu(resources.get("cpu")) or 0,
        memory_bytes=_memory(resources.get("memory")) or 0,
        spread=tuple(
            (c["topologyKey"], int(c.get("maxSkew") or 1)) for c in placement.get("spread") or ()
        ),
        tolerations=tuple(
            TolerationView(
                t.get("key"), t.get("operator", "Equal"), t.get("value"), t.get("effect")
            )
            for t in placement.get("tolerations") or ()
        ),
    )


def group_selectors(groups: Iterable[Object]) -> dict[str, Selector]:
    return {g["metadata"]["name"]: selector_from_dict(g["spec"]["selector"]) for g in groups}
