"""Reading manifests: multi-document YAML, directories, stdin, and errors that name
the file, the line, the document, the object and the field."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from edgeplane.cli.manifests import Manifest, ManifestError, load_raw, load_validated


def site(name: str, **labels: str) -> str:
    return (
        "apiVersion: edgeplane.io/v1alpha1\nkind: Site\n"
        f"metadata: {{name: {name}, labels: {labels or {}}}}\n"
        "spec: {runtime: process}\n"
    )


APP_NEGATIVE = """\
apiVersion: edgeplane.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  workload: {process: {command: sleep}}
  placement: {mode: Replicas, replicas: -1}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def names(manifests: list[Manifest]) -> list[str]:
    return [m.obj["metadata"]["name"] for m in manifests]


def test_multi_document_file_skips_empty_documents(tmp_path: Path) -> None:
    text = "---\n" + site("a") + "---\n---\n# just a comment\n---\n" + site("b") + "---\n"
    manifests = load_validated([write(tmp_path, "sites.yaml", text)])
    assert names(manifests) == ["a", "b"]
    assert manifests[1].source.endswith("sites.yaml (document 4)")


def test_directory_applies_manifest_files_sorted_and_ignores_others(tmp_path: Path) -> None:
    write(tmp_path, "20-b.yml", site("b"))
    write(tmp_path, "10-a.yaml", site("a"))
    write(
        tmp_path,
        "30-c.json",
        '{"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site",'
        ' "metadata": {"name": "c"}, "spec": {}}',
    )
    write(tmp_path, "README.md", "not: [a manifest")
    (tmp_path / "sub.yaml").mkdir()
    assert names(load_validated([str(tmp_path)])) == ["a", "b", "c"]


def test_several_sources_keep_their_order(tmp_path: Path) -> None:
    second = write(tmp_path, "z.yaml", site("z"))
    first = write(tmp_path, "a.yaml", site("a"))
    assert names(load_validated([second, first])) == ["z", "a"]


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(site("from-stdin")))
    manifests = load_validated(["-"])
    assert names(manifests) == ["from-stdin"]
    assert manifests[0].source == "<stdin> (document 1)"


def test_validated_objects_are_in_wire_form(tmp_path: Path) -> None:
    [manifest] = load_validated([write(tmp_path, "s.yaml", site("a", region="eu"))])
    assert manifest.kind == "Site"
    assert manifest.obj["metadata"]["labels"] == {"region": "eu"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            site("a") + "---\nkind: Site\nname: b: c\n",
            r"bad\.yaml: line 7, column 8: malformed YAML: mapping values are not allowed",
        ),
        ("\tkind: Site\n", r"line 1, column 1: malformed YAML"),
        ("", "no objects in it"),
        (
            site("a") + "---\n" + APP_NEGATIVE,
            r'\(document 2\): Application "web" is invalid: '
            r"spec\.placement\.replicas",
        ),
        (site("ok") + "---\n" + site("Bad_Name"), r"\(document 2\).*metadata\.name"),
        (site("a", **{"bad key!": "x"}), r"metadata\.labels.*invalid label key 'bad key!'"),
        (site("a").replace("v1alpha1", "v1"), r"apiVersion: must be 'edgeplane\.io/v1alpha1'"),
        (site("a").replace("Site", "Sight"), r"kind: unknown kind 'Sight'"),
        ("- a\n- list\n", r"\(document 1\): object is invalid: expected an object"),
    ],
    ids=[
        "malformed-yaml-names-line",
        "tab-indent",
        "empty-file",
        "negative-replicas",
        "bad-name-in-second-doc",
        "invalid-label",
        "wrong-api-version",
        "unknown-kind",
        "not-a-mapping",
    ],
)
def test_bad_input_names_file_document_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ManifestError, match=expected) as raised:
        load_validated([path])
    assert str(raised.value).startswith(path)


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or directory"):
        load_validated([str(tmp_path / "absent.yaml")])
    with pytest.raises(ManifestError, match=r"no \.yaml, \.yml or \.json files"):
        load_validated([str(tmp_path)])


def test_raw_loading_needs_only_kind_and_name(tmp_path: Path) -> None:
    text = "kind: Site\nmetadata: {name: a}\nspec: {unknownField: 1}\n"
    [manifest] = load_raw([write(tmp_path, "s.yaml", text)])
    assert (manifest.kind, manifest.name) == ("Site", "a")
    with pytest.raises(ManifestError, match=r"\(document 1\): each object needs kind"):
        load_raw([write(tmp_path, "t.yaml", "kind: Site\n")])


def test_a_list_document_stands_for_its_items(tmp_path: Path) -> None:
    items = [yaml.safe_load(site("a")), yaml.safe_load(site("b"))]
    text = yaml.safe_dump(
        {"apiVersion": "edgeplane.io/v1alpha1", "kind": "SiteList", "items": items}
    )
    manifests = load_validated([write(tmp_path, "list.yaml", site("first") + "---\n" + text)])
    assert names(manifests) == ["first", "a", "b"]
    assert manifests[2].source.endswith("list.yaml (document 2, item 2)")


def test_a_bad_item_of_a_list_is_named(tmp_path: Path) -> None:
    bad = {"apiVersion": "v1", "kind": "Site", "metadata": {"name": "x"}}
    text = yaml.safe_dump({"kind": "SiteList", "items": [yaml.safe_load(site("a")), bad]})
    with pytest.raises(ManifestError, match=r"\(document 1, item 2\): Site \"x\" is invalid"):
        load_validated([write(tmp_path, "list.yaml", text)])
    with pytest.raises(ManifestError, match=r"SiteList\.items must be a list"):
        load_validated([write(tmp_path, "l2.yaml", "kind: SiteList\nitems: {a: 1}\n")])


def test_a_binary_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError, match=r"image\.yaml: cannot read it as UTF-8 text"):
        load_validated([str(path)])
