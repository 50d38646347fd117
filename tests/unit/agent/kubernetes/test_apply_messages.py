"""The apply engine's pure parts: the inventory's name, and how a 409 conflict reads."""

from __future__ import annotations

import pytest

from edgeplane.agent.runtimes.kubernetes.apply import conflict_message
from edgeplane.agent.runtimes.kubernetes.client import KubeError, ObjectRef
from edgeplane.agent.runtimes.kubernetes.inventory import inventory_name
from edgeplane.api.labels import check_dns1123_subdomain

WEB = ObjectRef("apps/v1", "Deployment", "shop", "web")
HINT = "(set spec.workload.kubernetes.force to take it)"


def test_a_short_assignment_names_its_inventory_in_full() -> None:
    assert inventory_name("shop.site-1.0123456789") == "edgeplane-inventory-shop.site-1.0123456789"


def test_a_long_assignment_name_is_cut_to_253_with_a_hash_of_the_whole() -> None:
    one, two = "a" * 230 + ".b-" + "c" * 20, "a" * 230 + ".b-" + "d" * 20
    names = inventory_name(one), inventory_name(two)
    assert [len(n) for n in names] == [253, 253]
    assert names[0] != names[1]
    assert all(check_dns1123_subdomain(n) is None for n in names)
    cut_at_a_dot = inventory_name("a" * 221 + "." + "b" * 30)
    assert check_dns1123_subdomain(cut_at_a_dot) is None and ".-" not in cut_at_a_dot


@pytest.mark.parametrize(
    ("causes", "message", "expected"),
    [
        (
            (('conflict with "kubectl-edit"', ".spec.replicas"),),
            'Apply failed with 1 conflict: conflict with "kubectl-edit": .spec.replicas',
            f"Deployment shop/web: .spec.replicas is owned by kubectl-edit {HINT}",
        ),
        (
            (
                ('conflict with "kubectl-edit" using apps/v1', ".spec.replicas"),
                ('conflict with "helm"', ".metadata.labels.tier"),
                ('conflict with "kubectl-edit" using apps/v1', ".spec.paused"),
            ),
            "Apply failed with 3 conflicts: ...",
            "Deployment shop/web: .spec.replicas, .spec.paused are owned by kubectl-edit; "
            f".metadata.labels.tier is owned by helm {HINT}",
        ),
        (
            (),
            'Apply failed with 1 conflict: conflict with "x": .data.a',
            f'Deployment shop/web: Apply failed with 1 conflict: conflict with "x": .data.a {HINT}',
        ),
    ],
    ids=["one-field", "two-managers", "no-causes"],
)
def test_a_conflict_names_the_fields_and_their_managers(
    causes: tuple[tuple[str, str], ...], message: str, expected: str
) -> None:
    assert conflict_message(WEB, KubeError(409, "Conflict", message, causes)) == expected
