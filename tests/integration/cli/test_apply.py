"""``edgeplane apply`` against a real hub: created, unchanged, configured, and bad
input that is refused before anything is written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgeplane.api.kinds import KINDS
from edgeplane.api.wire import Object
from edgeplane.client.hub import HubClient
from tests.integration.cli.conftest import Run
from tests.integration.cli.manifests import APP, GROUP, SITES


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def hub_state(client: HubClient) -> tuple[str, list[Object]]:
    """The global resourceVersion and every object: any write changes the first."""
    objects = [o for info in KINDS for o in client.list_all(info.plural)]
    return client.list("sites")["metadata"]["resourceVersion"], objects


def settled_state(client: HubClient) -> tuple[str, list[Object]]:
    """The hub state once the hub's own controllers stopped writing (placement answers
    every apply with assignments and status)."""
    deadline, last = time.monotonic() + 30, hub_state(client)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (now := hub_state(client)) == last:
            return now
        last = now
    raise AssertionError("the hub kept writing for 30 s after the apply")


def test_created_then_unchanged_writes_nothing(cli: Run, client: HubClient, tmp_path: Path) -> None:
    manifest = write(tmp_path, "all.yaml", SITES + "---\n" + APP)
    first = cli("apply", "-f", manifest)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [
        "site/dublin created",
        "site/frankfurt created",
        "site/boston created",
        "application/web created",
    ]
    before = settled_state(client)
    again = cli("apply", "-f", manifest)
    assert again.exit_code == 0, again.stderr
    assert all(line.endswith(" unchanged") for line in again.stdout.splitlines())
    assert hub_state(client) == before


CHANGES = [
    ("spec", "replicas: 2", "replicas: 5", 2, ("spec", "placement", "replicas"), 5),
    ("label", "team: retail", "team: logistics", 1, ("metadata", "labels", "team"), "logistics"),
    ("annotation", "owner: ops", "owner: sre", 1, ("metadata", "annotations", "owner"), "sre"),
]


@pytest.mark.parametrize(
    ("old", "new", "generation", "path", "value"),
    [c[1:] for c in CHANGES],
    ids=[c[0] for c in CHANGES],
)
def test_a_change_is_configured_and_only_spec_bumps_generation(
    cli: Run,
    client: HubClient,
    old: str,
    new: str,
    generation: int,
    path: tuple[str, ...],
    value: object,
) -> None:
    assert cli("apply", "-f", "-", stdin=APP).stdout == "application/web created\n"
    changed = cli("apply", "-f", "-", stdin=APP.replace(old, new))
    assert changed.exit_code == 0, changed.stderr
    assert changed.stdout == "application/web configured\n"
    stored = client.get("applications", "web")
    found: object = stored
    for key in path:
        assert isinstance(found, dict)
        found = found[key]
    assert found == value
    assert stored["metadata"]["generation"] == generation


def test_removing_a_label_is_configured(cli: Run, client: HubClient) -> None:
    cli("apply", "-f", "-", stdin=APP)
    without = APP.replace("labels: {team: retail}, ", "")
    assert cli("apply", "-f", "-", stdin=without).stdout == "application/web configured\n"
    assert client.get("applications", "web")["metadata"].get("labels", {}) == {}


def test_apply_keeps_the_status_written_by_others(cli: Run, client: HubClient) -> None:
    cli("apply", "-f", "-", stdin=SITES)
    site = client.get("sites", "dublin")
    client.replace_status("sites", {**site, "status": {"phase": "Online"}})
    result = cli("apply", "-f", "-", stdin=SITES.replace("lat: 53.35", "lat: 53.4"))
    assert result.stdout.splitlines()[0] == "site/dublin configured"
    stored = client.get("sites", "dublin")
    assert stored["status"]["phase"] == "Online"
    assert stored["spec"]["location"]["lat"] == 53.4


def test_directory_is_applied_in_name_order(cli: Run, client: HubClient, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder, "20-app.yml", APP)
    write(folder, "10-group.yaml", GROUP)
    write(folder, "notes.txt", "not a manifest")
    result = cli("apply", "-f", str(folder))
    assert result.stdout.splitlines() == ["sitegroup/eu created", "application/web created"]
    assert client.get("sitegroups", "eu")["spec"]["description"] == "Sites in the EU"


def test_several_files_and_stdin_in_one_apply(cli: Run, tmp_path: Path) -> None:
    result = cli("apply", "-f", write(tmp_path, "g.yaml", GROUP), "-f", "-", stdin=APP)
    assert result.stdout.splitlines() == ["sitegroup/eu created", "application/web created"]


GOOD_FIRST = "apiVersion: edgeplane.io/v1alpha1\nkind: Site\nmetadata: {name: first}\n---\n"
BAD = [
    ("malformed-yaml", "kind: Site\nname: a: b\n", "bad.yaml: line 6, column 8: malformed YAML"),
    ("unknown-kind", APP.replace("kind: Application", "kind: Widget"), "unknown kind 'Widget'"),
    (
        "wrong-api-version",
        APP.replace("edgeplane.io/v1alpha1", "apps/v1"),
        "apiVersion: must be 'edgeplane.io/v1alpha1' (got 'apps/v1')",
    ),
    (
        "invalid-label",
        APP.replace("team: retail", "team: 'no spaces'"),
        "metadata.labels[team]: invalid label value 'no spaces'",
    ),
    (
        "negative-replicas",
        APP.replace("replicas: 2", "replicas: -1"),
        'Application "web" is invalid: spec.placement.replicas',
    ),
    ("missing-name", APP.replace("name: web, ", ""), "metadata.name: is required"),
]


@pytest.mark.parametrize(("text", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_exits_1_names_it_and_changes_nothing(
    cli: Run, client: HubClient, tmp_path: Path, text: str, expected: str
) -> None:
    cli("apply", "-f", "-", stdin=GROUP)
    before = hub_state(client)
    result = cli("apply", "-f", write(tmp_path, "bad.yaml", GOOD_FIRST + text))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert "(document 2)" in result.stderr or "line 6" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert hub_state(client) == before


def test_a_list_printed_by_get_reapplies_unchanged(cli: Run, client: HubClient) -> None:
    cli("apply", "-f", "-", stdin=SITES)
    listed = cli("get", "sites", "-o", "yaml")
    before = hub_state(client)
    again = cli("apply", "-f", "-", stdin=listed.stdout)
    assert again.stdout.splitlines() == [
        "site/boston unchanged",
        "site/dublin unchanged",
        "site/frankfurt unchanged",
    ]
    assert hub_state(client) == before


def test_a_refusal_by_the_hub_names_the_document(
    cli: Run, client: HubClient, tmp_path: Path
) -> None:
    # Valid locally, but over the hub's body limit (1 MiB): only the hub can refuse it.
    # (Not in an annotation: annotations are bounded to 256 KiB by the API itself.)
    huge = APP.replace(
        "args: [-m, http.server]", "args: [-m, http.server, " + "x" * 1_100_000 + "]"
    )
    result = cli("apply", "-f", write(tmp_path, "huge.yaml", GROUP + "---\n" + huge))
    assert result.exit_code == 1
    assert result.stdout == "sitegroup/eu created\n"
    assert result.stderr.startswith(f"error: {tmp_path / 'huge.yaml'} (document 2): ")
    assert client.list_all("applications") == []


WARN_POLICY = """
apiVersion: edgeplane.io/v1alpha1
kind: Policy
metadata: {name: requests-required}
spec:
  scope: Admission
  enforcement: Warn
  rules:
  - name: has-memory
    expression: has(app.spec.resources) && has(app.spec.resources.memory)
    message: set spec.resources.memory so placement can count it
"""


def test_apply_prints_admission_warnings(cli: Run, tmp_path: Path) -> None:
    assert "memory" not in APP
    result = cli("apply", "-f", write(tmp_path, "w.yaml", WARN_POLICY + "---\n" + APP))
    assert result.exit_code == 0, result.stderr
    assert "application/web created" in result.stdout
    assert (
        "Warning: policy requests-required rule has-memory: set spec.resources.memory so "
        "placement can count it" in result.stderr
    )
