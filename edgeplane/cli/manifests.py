"""Reading manifests: multi-document YAML (or JSON) from files, directories or stdin.

A ``<Kind>List`` document (what ``get -o yaml`` prints for a list) stands for its
items. Everything is parsed and validated before anything is sent, so one bad document
stops the whole apply and changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeplane.api.validation import InvalidObject, to_wire, validate_object

SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class Manifest:
    source: str  # "file.yaml (document 2)"
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def _files(sources: Iterable[str]) -> list[tuple[str, str]]:
    """(label, text) for each source; directories expand to their manifest files."""
    out: list[tuple[str, str]] = []
    for source in sources:
        if source == "-":
            out.append(("<stdin>", sys.stdin.read()))
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not files:
                raise ManifestError(f"{path}: no .yaml, .yml or .json files in this directory")
            out += [(str(p), _read(p)) for p in files]
        elif path.is_file():
            out.append((str(path), _read(path)))
        else:
            raise ManifestError(f"{source}: no such file or directory")
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read it as UTF-8 text: {e}") from e


def _documents(label: str, text: str) -> list[tuple[str, Any]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ManifestError(f"{label}:{where}: malformed YAML: {problem}") from e
    numbered = [
        entry
        for i, doc in enumerate(docs)
        if doc is not None
        for entry in _expanded(f"{label} (document {i + 1})", doc)
    ]
    if not numbered:
        raise ManifestError(f"{label}: no objects in it")
    return numbered


def _expanded(where: str, doc: Any) -> list[tuple[str, Any]]:
    """A ``<Kind>List`` (what ``get -o yaml`` prints) stands for its items."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in doc):
        return [(where, doc)]
    items = doc["items"]
    if not isinstance(items, list):
        raise ManifestError(f"{where}: {kind}.items must be a list of objects")
    return [(f"{where[:-1]}, item {i + 1})", item) for i, item in enumerate(items)]


def load_raw(sources: Iterable[str]) -> list[Manifest]:
    """Parsed documents, only checked for kind and metadata.name (enough to delete)."""
    out = []
    for label, text in _files(sources):
        for where, doc in _documents(label, text):
            name = (doc.get("metadata") or {}).get("name") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or not doc.get("kind") or not name:
                raise ManifestError(f"{where}: each object needs kind and metadata.name")
            out.append(Manifest(where, doc))
    return out


def load_validated(sources: Iterable[str]) -> list[Manifest]:
    """Parsed and validated documents in their wire form; the first problem raises."""
    out = []
    for label, text in _files(sources):
        for where, doc in _documents(label, text):
            try:
                out.append(Manifest(where, to_wire(validate_object(doc))))
            except InvalidObject as e:
                raise ManifestError(f"{where}: {e}") from e
    return out
