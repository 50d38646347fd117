"""Reading manifests: multi-document YAML (or JSON) from files, directories or stdin.

A ``<Kind>List`` document (what ``get -o yaml`` prints for a list) stands for its
items. Everything is parsed and validated before anything is sent, so one bad document
stops the whole apply and changes nothing. Files may come from anyone (a pasted
example, a generated directory), so reading is bounded: each source by
``strict_yaml.YamlLimits`` (size, documents, aliases and their expansion, depth, strict
types), all of them together by ``MAX_OBJECTS`` objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from edgeplane.api.wire import Meta, Object
from edgeplane.client.strict_yaml import LIMITS, YamlRefused, load_documents

SUFFIXES = (".yaml", ".yml", ".json")
MAX_OBJECTS = 10_000
"""Objects in one apply or delete, over all its files (a List's items count each)."""


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class Manifest:
    source: str  # "file.yaml (document 2)"
    obj: Object

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def _files(sources: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(label, text) for each source, one read at a time; directories expand to their
    manifest files."""
    for source in sources:
        if source == "-":
            yield "<stdin>", _bounded("<stdin>", sys.stdin.read(LIMITS.max_bytes + 1))
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not files:
                raise ManifestError(f"{path}: no .yaml, .yml or .json files in this directory")
            yield from ((str(p), _read(p)) for p in files)
        elif path.is_file():
            yield str(path), _read(path)
        else:
            raise ManifestError(f"{source}: no such file or directory")


def _objects(sources: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(where, document) of every object in the sources, at most ``MAX_OBJECTS``."""
    count = 0
    for label, text in _files(sources):
        for where, doc in _documents(label, text):
            count += 1
            if count > MAX_OBJECTS:
                raise ManifestError(
                    f"{where}: more than {MAX_OBJECTS} objects in one go: apply them in parts"
                )
            yield where, doc


def _read(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(LIMITS.max_bytes + 1)  # never more than the limit in memory
        return _bounded(str(path), data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read it as UTF-8 text: {e}") from e


def _bounded(label: str, text: str) -> str:
    if len(text) > LIMITS.max_bytes:
        raise ManifestError(
            f"{label}: larger than {LIMITS.max_bytes} bytes: split it into several files"
        )
    return text


def _documents(label: str, text: str) -> list[tuple[str, Any]]:
    try:
        docs = load_documents(text)
    except YamlRefused as e:
        where = f" {e.where}" if e.where else ""
        what = "YAML refused" if e.limited else "malformed YAML"
        raise ManifestError(f"{label}:{where}: {what}: {e.problem}") from e
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
    """Parsed documents, only checked for kind and metadata.name (enough to delete);
    each manifest keeps only those two, as nothing else of it was validated."""
    out = []
    for where, doc in _objects(sources):
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if not isinstance(kind, str) or not name:
            raise ManifestError(f"{where}: each object needs kind and metadata.name")
        out.append(Manifest(where, Object(kind=kind, metadata=Meta(name=str(name)))))
    return out


def load_validated(sources: Iterable[str]) -> list[Manifest]:
    """Parsed and validated documents in their wire form; the first problem raises."""
    out = []
    for where, doc in _objects(sources):
        try:
            out.append(Manifest(where, to_wire(validate_object(doc))))
        except InvalidObject as e:
            raise ManifestError(f"{where}: {e}") from e
    return out
