"""``get``, ``describe`` and ``delete`` against a real hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeplane.api.wellknown import assignment_name
from edgeplane.client.hub import HubClient
from tests.integration.cli.conftest import Run
from tests.integration.cli.manifests import APP, GROUP, SITES
from tests.support.waiting import wait_until


@pytest.fixture
def fleet(cli: Run) -> None:
    result = cli("apply", "-f", "-", stdin="---\n".join([SITES, GROUP, APP]))
    assert result.exit_code == 0, result.stderr


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def wait_for_status(client: HubClient, app: str) -> dict[str, Any]:
    """The application's status once the hub's placement wrote it."""
    status = wait_until(
        lambda: client.get("applications", app).get("status"), f"placement to write {app}'s status"
    )
    return dict(status)


@pytest.mark.usefixtures("fleet")
def test_default_table_has_per_kind_columns(cli: Run, client: HubClient) -> None:
    sites = rows(cli("get", "sites").stdout)
    assert sites[0] == ["NAME", "PHASE", "HEARTBEAT", "CPU", "MEMORY", "WORKLOADS", "AGE"]
    assert [r[:6] for r in sites[1:]] == [
        ["boston", "-", "-", "-", "-", "-"],
        ["dublin", "-", "-", "-", "-", "-"],
        ["frankfurt", "-", "-", "-", "-", "-"],
    ]
    wide = rows(cli("get", "sites", "-o", "wide").stdout)
    assert wide[0][6:9] == ["REGION", "RUNTIME", "ADDRESS"]
    assert [r[6] for r in wide[1:]] == ["us-east", "eu-west", "eu-central"]
    placed = wait_for_status(client, "web")
    apps = rows(cli("get", "apps").stdout)
    assert apps[0] == ["NAME", "MODE", "READY", "SITES", "AGE"]
    assert apps[1][:4] == ["web", "Replicas", "0/2", ",".join(placed["sites"])]


@pytest.mark.usefixtures("fleet")
def test_assignments_show_where_and_how_each_instance_runs(cli: Run, client: HubClient) -> None:
    placed = wait_for_status(client, "web")
    table = rows(cli("get", "assignments").stdout)
    assert table[0] == [
        "NAME",
        "APPLICATION",
        "SITE",
        "PHASE",
        "READY",
        "RESTARTS",
        "ENDPOINT",
        "AGE",
    ]
    # No agent runs here: placement wrote the assignments, nobody reported on them yet.
    assert [r[:7] for r in table[1:]] == [
        [assignment_name("web", site), "web", site, "-", "-", "-", "-"]
        for site in sorted(placed["sites"])
    ]


@pytest.mark.usefixtures("fleet")
def test_wide_adds_labels(cli: Run) -> None:
    table = rows(cli("get", "Application", "-o", "wide").stdout)
    assert table[0] == ["NAME", "MODE", "READY", "SITES", "UNPLACED", "MESSAGE", "LABELS", "AGE"]
    assert table[1][-2] == "team=retail"


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("kind", "name", "fmt"),
    [
        ("site", "dublin", "json"),
        ("apps", "web", "yaml"),
        ("sg", "eu", "json"),
    ],
    ids=["site-json", "app-yaml", "sitegroup-json"],
)
def test_one_object_prints_exactly_what_the_hub_holds(
    cli: Run, client: HubClient, kind: str, name: str, fmt: str
) -> None:
    plural = {"site": "sites", "apps": "applications", "sg": "sitegroups"}[kind]

    def printed_between_two_equal_reads() -> tuple[dict[str, Any], dict[str, Any]] | None:
        # The hub's controllers may still be writing the object's status: compare with
        # a version the hub held unchanged across the CLI's read.
        before = client.get(plural, name)
        result = cli("get", kind, name, "-o", fmt)
        assert result.exit_code == 0, result.stderr
        shown = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
        after = client.get(plural, name)
        return (shown, dict(after)) if before == after else None

    shown, held = wait_until(printed_between_two_equal_reads, f"{kind}/{name} to hold still")
    assert shown == held


@pytest.mark.usefixtures("fleet")
def test_a_list_prints_as_kind_list(cli: Run, client: HubClient) -> None:
    shown = json.loads(cli("get", "sites", "-o", "json").stdout)
    assert shown == {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteList",
        "items": client.list_all("sites"),
    }


@pytest.mark.usefixtures("fleet")
def test_yaml_of_one_object_reapplies_unchanged(cli: Run) -> None:
    exported = cli("get", "app", "web", "-o", "yaml").stdout
    assert cli("apply", "-f", "-", stdin=exported).stdout == "application/web unchanged\n"


SELECTORS = [
    ("equals", "region=eu-west", ["site/dublin"]),
    ("not-equals", "region!=eu-west", ["site/boston", "site/frankfurt"]),
    ("in", "tier in (edge,cloud)", ["site/dublin", "site/frankfurt"]),
    ("exists", "tier", ["site/dublin", "site/frankfurt"]),
    ("does-not-exist", "!tier", ["site/boston"]),
    ("and", "tier,region notin (eu-west)", ["site/frankfurt"]),
    ("nothing", "region=mars", []),
]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("selector", "expected"), [s[1:] for s in SELECTORS], ids=[s[0] for s in SELECTORS]
)
def test_label_selector(cli: Run, selector: str, expected: list[str]) -> None:
    result = cli("get", "sites", "-l", selector, "-o", "name")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_empty_list_says_so_on_stderr(cli: Run) -> None:
    result = cli("get", "policies")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No policies found.\n"


@pytest.mark.usefixtures("fleet")
def test_describe_shows_metadata_spec_status_and_conditions(cli: Run, client: HubClient) -> None:
    site = client.get("sites", "dublin")
    condition = {"type": "Ready", "status": "True", "reason": "Heartbeat", "message": "ok"}
    client.replace_status(
        "sites", {**site, "status": {"phase": "Online", "conditions": [condition]}}
    )
    text = cli("describe", "site", "dublin").stdout
    assert "Name:               dublin" in text
    assert "Kind:               Site" in text
    assert "Labels:             region=eu-west, tier=edge" in text
    assert f"UID:                {site['metadata']['uid']}" in text
    assert "Spec:\n  location:\n    lat: 53.35\n    lon: -6.26\n  runtime: process\n" in text
    assert "Status:\n  phase: Online\n" in text
    assert "Conditions:\n  Ready=True  Heartbeat  ok" in text


@pytest.mark.usefixtures("fleet")
def test_describe_without_status(cli: Run) -> None:
    text = cli("describe", "sg", "eu").stdout
    assert "Status:\n  <none>\nConditions: <none>" in text


@pytest.mark.usefixtures("fleet")
def test_delete_by_name_then_not_found(cli: Run, client: HubClient) -> None:
    assert cli("delete", "site", "boston").stdout == "site/boston deleted\n"
    assert [o["metadata"]["name"] for o in client.list_all("sites")] == ["dublin", "frankfurt"]
    again = cli("delete", "site", "boston")
    assert again.exit_code == 1
    assert again.stderr.startswith('error: Site "boston" not found')
    assert cli("delete", "site", "boston", "--ignore-not-found").exit_code == 0


@pytest.mark.usefixtures("fleet")
def test_delete_from_file(cli: Run, client: HubClient, tmp_path: Path) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(APP + "---\n" + GROUP)
    result = cli("delete", "-f", str(manifest))
    assert result.stdout.splitlines() == ["application/web deleted", "sitegroup/eu deleted"]
    assert client.list_all("applications") == client.list_all("sitegroups") == []


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("get", "widgets"), 1, "unknown kind 'widgets': use one of Site (sites), SiteGroup"),
        (("describe", "gizmo", "x"), 1, "unknown kind 'gizmo'"),
        (("get", "site", "nowhere"), 1, "nowhere"),
        (("describe", "app", "nothing"), 1, "nothing"),
        (("get", "sites", "-o", "xml"), 2, "--output 'xml' is not known"),
        (("get", "sites", "-l", "a in (b"), 1, "labelSelector"),
        (("delete", "site"), 2, "give KIND NAME or -f FILE"),
    ],
    ids=[
        "unknown-kind",
        "describe-unknown-kind",
        "get-missing",
        "describe-missing",
        "bad-output",
        "bad-selector",
        "delete-without-name",
    ],
)
def test_errors_are_one_line_with_the_documented_code(
    cli: Run, args: tuple[str, ...], code: int, expected: str
) -> None:
    result = cli(*args)
    assert result.exit_code == code
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


TRICKY = {
    "long": "word " * 120,
    "markup": "[bold]not bold[/bold] [red]",
    "emoji": ":warning: :smile:",
}


def test_data_prints_exactly_whatever_it_holds(cli: Run, client: HubClient) -> None:
    group = yaml.safe_load(GROUP)
    group["metadata"]["annotations"] = TRICKY
    group["spec"]["description"] = TRICKY["markup"] + " " + TRICKY["emoji"]
    client.create("sitegroups", group)
    stored = client.get("sitegroups", "eu")
    for fmt, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        assert parse(cli("get", "sg", "eu", "-o", fmt).stdout) == stored
        assert parse(cli("get", "sg", "-o", fmt).stdout)["items"] == [stored]
    assert group["spec"]["description"] in cli("get", "sg").stdout
    described = cli("describe", "sg", "eu").stdout
    assert TRICKY["markup"] in described and TRICKY["emoji"] in described


def _device(name: str, site: str, device_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name, "labels": {"class": device_class}},
        "spec": {"site": site, "protocol": "modbus", "address": f"modbus://{name}:502"},
    }


@pytest.mark.usefixtures("fleet")
def test_devices_are_filtered_by_site_and_class(cli: Run, client: HubClient) -> None:
    for name, site, device_class in (
        ("plc-1", "boston", "plc"),
        ("cam-1", "boston", "camera"),
        ("plc-2", "dublin", "plc"),
    ):
        client.create("devices", _device(name, site, device_class))
    table = rows(cli("get", "devices", "--site", "boston", "--class", "plc", "-o", "wide").stdout)
    assert table[0][:5] == ["NAME", "SITE", "CLASS", "PROTOCOL", "PHASE"]
    assert "ADDRESS" in table[0]
    assert [r[0] for r in table[1:]] == ["plc-1"]
    assert "modbus://plc-1:502" in table[1]
    assert [r[0] for r in rows(cli("get", "devices", "--class", "plc").stdout)[1:]] == [
        "plc-1",
        "plc-2",
    ]
    refused = cli("get", "sites", "--class", "plc")
    assert refused.exit_code != 0 and "--class filters devices" in refused.stderr
    bad = cli("get", "devices", "--class", "no spaces")
    assert bad.exit_code != 0 and "--class 'no spaces'" in bad.stderr
