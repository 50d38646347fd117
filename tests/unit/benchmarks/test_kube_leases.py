"""benchmarks/support/kube_leases: the Lease a kubelet writes, and renewals spread evenly."""

from __future__ import annotations

import re

import pytest

from benchmarks.support.kube_leases import NAMESPACE, lease, micro_time, offset


def test_micro_time_is_rfc3339_with_microseconds_in_utc() -> None:
    assert micro_time(0) == "1970-01-01T00:00:00.000000Z"
    assert micro_time(1_796_089_520.5) == "2026-12-01T01:45:20.500000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", micro_time())


def test_a_lease_is_held_by_its_node_in_the_node_lease_namespace() -> None:
    made = lease("node-00042")
    assert made["kind"] == "Lease" and made["apiVersion"] == "coordination.k8s.io/v1"
    assert made["metadata"] == {"name": "node-00042", "namespace": NAMESPACE}
    assert made["spec"]["holderIdentity"] == "node-00042"
    assert made["spec"]["leaseDurationSeconds"] == 40


@pytest.mark.parametrize("count", [10, 1000, 2500, 10000], ids=lambda n: f"{n}-nodes")
def test_renewals_spread_evenly_over_the_period(count: int) -> None:
    period, slots = 10.0, 10
    per_slot = [0] * slots
    for index in range(count):
        at = offset(index, period)
        assert 0 <= at < period
        per_slot[int(at / period * slots)] += 1
    # each tenth of the period gets a tenth of the renewals, give or take a few
    assert max(per_slot) - min(per_slot) <= max(2, count // 100)
