"""The replicas of an assignment, as runtime instances: how each is keyed, and how
keys are read back.

An assignment with ``spec.replicas`` n runs n instances, numbered 0..n-1. Instance 0
is keyed by the assignment's name itself, so its record, log and ``edgeplane logs``
are where they were before replicas existed (an upgraded agent adopts it); instance
i > 0 is ``<assignment>_<i>``. Assignment names are DNS-1123 subdomains, which never
hold ``_``, so a key names one instance of one assignment without ambiguity.

Pure: the reconciler decides what runs, the reporter sums statuses; both key through
here. Nothing here knows about processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from edgeplane.api.wire import Object

SEPARATOR = "_"
T = TypeVar("T")


def replicas_of(obj: Object) -> int:
    """``spec.replicas``, 1 when absent (the API's default)."""
    replicas = obj.get("spec", {}).get("replicas")
    return 1 if replicas is None else max(0, int(replicas))


def instance_key(assignment: str, replica: int) -> str:
    return assignment if replica == 0 else f"{assignment}{SEPARATOR}{replica}"


def instance_keys(assignment: str, replicas: int) -> list[str]:
    return [instance_key(assignment, i) for i in range(replicas)]


def split_key(key: str) -> tuple[str, int]:
    """(assignment, replica) of an instance key; a key without a replica suffix is
    replica 0 of the assignment it names."""
    assignment, separator, replica = key.rpartition(SEPARATOR)
    if separator and replica.isascii() and replica.isdigit():  # not '٣' or '²'
        return assignment, int(replica)
    return key, 0


def stop_order(keys: Iterable[str]) -> list[str]:
    """Highest replica first, so that a scale-down keeps the low-numbered instances
    (and their endpoints) until last."""
    return sorted(keys, key=lambda k: (-split_key(k)[1], split_key(k)[0]))


def by_assignment(instances: Mapping[str, T]) -> dict[str, dict[int, T]]:
    """Instance key -> value, regrouped as assignment -> replica -> value."""
    grouped: dict[str, dict[int, T]] = {}
    for key, value in instances.items():
        assignment, replica = split_key(key)
        grouped.setdefault(assignment, {})[replica] = value
    return grouped
