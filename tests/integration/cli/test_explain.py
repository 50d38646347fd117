"""``edgeplane explain`` against a real hub."""

from __future__ import annotations

import json
from typing import Any

from edgeplane.client.hub import HubClient
from tests.integration.cli.conftest import Run
from tests.integration.cli.manifests import APP, GROUP, SITES
from tests.support.waiting import wait_until


def recorded(client: HubClient, name: str) -> dict[str, Any]:
    """The explain answer once the controller has recorded its decision (polled)."""
    return wait_until(
        lambda: client.explain(name),
        "the decision recorded",
        20,
        accept=lambda answer: answer["source"] == "recorded",
    )


def test_explain_says_where_and_why_not(cli: Run, client: HubClient) -> None:
    applied = cli("apply", "-f", "-", stdin="---\n".join([SITES, GROUP, APP]))
    assert applied.exit_code == 0, applied.stderr
    recorded(client, "web")
    result = cli("explain", "web")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # The recorded decision, then its story: the application's own creation placed it.
    assert lines[:4] == [
        "web: placed 1/2 at dublin",
        "  2 site(s) are in none of the siteGroups",
        "",
        "story:",
    ]
    assert lines[4].endswith("  Application web ADDED") and lines[5] == "    +dublin; 1 unplaced"
    one = cli("explain", "web", "--site", "boston")
    assert one.exit_code == 0, one.stderr
    lines = one.stdout.splitlines()
    assert "site boston: not feasible" in lines
    assert "  FAIL siteGroups  are in none of the siteGroups" in lines
    assert "  ok   selector" in lines
    as_json = json.loads(cli("explain", "web", "--site", "dublin", "-o", "json").stdout)
    assert as_json["site"]["feasible"] is True
    assert [c["check"] for c in as_json["site"]["checks"]] == [
        "selector",
        "siteGroups",
        "runtime",
        "phase",
        "unhealthy",
        "taints",
        "capacity",
        "devices",
        "locality",
        "policy",
    ]


DIVIDED = """\
apiVersion: edgeplane.io/v1alpha1
kind: Application
metadata: {name: batch}
spec:
  workload: {process: {command: python3}}
  placement:
    mode: Replicas
    replicas: 5
    division: Divided
    weights: [{selector: {matchLabels: {region: eu-west}}, weight: 4}, {selector: {}, weight: 1}]
"""


def test_explain_shows_divided_replicas_per_site(cli: Run) -> None:
    applied = cli("apply", "-f", "-", stdin="---\n".join([SITES, DIVIDED]))
    assert applied.exit_code == 0, applied.stderr
    result = cli("explain", "batch")
    assert result.exit_code == 0, result.stderr
    # 5 replicas by weight 4:1:1 -> dublin 3 (3.33), then one each by largest remainder
    # (recorded by the controller, or planned now when it has not placed it yet).
    assert result.stdout.splitlines()[0] == (
        "batch: placed 5/5 at boston (1), dublin (3), frankfurt (1)"
    )
    as_json = json.loads(cli("explain", "batch", "-o", "json").stdout)
    assert as_json["replicas"] == {"boston": 1, "dublin": 3, "frankfurt": 1}


def test_explain_of_unknown_names_fails_clearly(cli: Run) -> None:
    missing = cli("explain", "nothing")
    assert missing.exit_code == 1
    assert "no application 'nothing'" in missing.stderr
    cli("apply", "-f", "-", stdin="---\n".join([SITES, APP]))
    no_site = cli("explain", "web", "--site", "atlantis")
    assert no_site.exit_code == 1
    assert "no site 'atlantis'" in no_site.stderr


def test_apply_dry_run_shows_placement_and_stores_nothing(cli: Run, client: HubClient) -> None:
    cli("apply", "-f", "-", stdin="---\n".join([SITES, GROUP]))
    before = client.list("sites")["metadata"]["resourceVersion"]
    result = cli("apply", "--dry-run", "-f", "-", stdin=APP + "---\n" + GROUP)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "application/web would run at dublin "
        "(1/2; 2 site(s) are in none of the siteGroups) (dry run)",
        "sitegroup/eu valid (dry run: not sent)",
    ]
    assert client.list("sites")["metadata"]["resourceVersion"] == before
    assert client.list_all("applications") == []
    bad = cli("apply", "--dry-run", "-f", "-", stdin=APP.replace("replicas: 2", "replicas: -2"))
    assert bad.exit_code == 1


def test_dry_run_of_a_divided_application_counts_replicas(cli: Run) -> None:
    cli("apply", "-f", "-", stdin=SITES)
    result = cli("apply", "--dry-run", "-f", "-", stdin=DIVIDED)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "application/batch would run at boston (1), dublin (3), frankfurt (1) (5/5) (dry run)"
    ]
