"""YAML (and JSON, which is YAML) from users, read with bounds and strict types.

PyYAML's ``safe_load`` is safe from code execution but not from exhaustion: a 1 KB
"billion laughs" document of nested aliases expands to gigabytes once anything walks
it (validation, ``json.dumps``), and 100,000 nested brackets overflow the stack. It
also guesses types the API never takes (``yes`` as true, ``2024-01-01`` as a date,
``010`` as octal, ``.nan``). ``load_documents`` refuses, with the line and what to
change: more than ``max_aliases`` aliases or a node tree past ``max_expanded`` once
aliases are expanded (also self-referencing anchors), nesting past ``max_depth``,
more than ``max_documents`` documents, duplicate or non-string mapping keys, tags
other than the JSON ones (``!!binary``, ``!!set``, ``!!timestamp``, merge keys are
plain text), NaN and infinities. Scalars resolve as YAML 1.2's core schema: only
``true/false``, ``null``/``~``, decimal, ``0o`` and ``0x`` integers and finite floats
are not strings. Reading no more than ``max_bytes`` is the caller's part.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 4 * 1024 * 1024
    """Of one file or of stdin."""
    max_documents: int = 1000
    """Documents in one file (``---`` separated)."""
    max_aliases: int = 100
    """Aliases (``*name``) in one document."""
    max_expanded: int = 8 * 1024 * 1024
    """Nodes plus scalar characters of one document with its aliases expanded."""
    max_depth: int = 64
    """Nesting of mappings and sequences."""


LIMITS = YamlLimits()


class YamlRefused(Exception):
    """Malformed YAML, or YAML past a limit; ``line`` and ``column`` count from 1."""

    def __init__(
        self,
        problem: str,
        line: int | None = None,
        column: int | None = None,
        limited: bool = True,
    ) -> None:
        super().__init__(problem)
        self.problem, self.line, self.column = problem, line, column
        self.limited = limited
        """True when a limit was passed; False for YAML that does not parse or types that
        JSON does not have."""

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}" if self.line else ""


class _Limited(yaml.MarkedYAMLError):
    """A limit passed while composing, carried through PyYAML's own error handling."""


def _core_schema(cls: type[yaml.resolver.BaseResolver]) -> None:
    """YAML 1.2 core schema without .inf/.nan: everything else is a string."""
    rules = [
        ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?",
            "-+.0123456789",
        ),
    ]
    for tag, pattern, first in rules:
        cls.add_implicit_resolver(tag, re.compile(rf"\A(?:{pattern})\Z"), list(first))


class _Resolver(yaml.resolver.BaseResolver):
    yaml_implicit_resolvers: dict[Any, Any] = {}


_core_schema(_Resolver)


class _Constructor(SafeConstructor):
    """Only JSON's types; strings as keys, each key once."""

    yaml_constructors: ClassVar[dict[str | None, Any]] = {}

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise ConstructorError(
                    None,
                    None,
                    f"a key must be a string, not {key!r}: quote it",
                    key_node.start_mark,
                )
            if key in mapping:
                raise ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: Node) -> int:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
        base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
        try:
            return sign * int(digits[2:] if base != 10 else digits, base)
        except ValueError as e:  # also past Python's 4,300-digit limit
            raise ConstructorError(
                None, None, f"{text[:40]!r} is not an integer", node.start_mark
            ) from e

    def construct_yaml_float(self, node: Node) -> float:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConstructorError(
                None, None, f"{text[:40]!r} is not a finite number", node.start_mark
            )
        return value


_Constructor.yaml_constructors.update(
    {
        "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
        "tag:yaml.org,2002:bool": SafeConstructor.construct_yaml_bool,
        "tag:yaml.org,2002:int": _Constructor.construct_yaml_int,
        "tag:yaml.org,2002:float": _Constructor.construct_yaml_float,
        "tag:yaml.org,2002:str": SafeConstructor.construct_yaml_str,
        "tag:yaml.org,2002:seq": SafeConstructor.construct_yaml_seq,
        "tag:yaml.org,2002:map": SafeConstructor.construct_yaml_map,
        None: SafeConstructor.construct_undefined,  # !!binary, !!set, !!timestamp, !local
    }
)


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Constructor,
    _Resolver,
):
    """A loader that counts aliases and depth as it composes, and measures each document
    with its aliases expanded before anything is built from it."""

    def __init__(self, text: str, limits: YamlLimits) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self.limits, self.aliases, self.depth = limits, 0, 0

    def compose_document(self) -> Node | None:
        self.aliases = 0
        node: Node | None = super().compose_document()
        if node is not None:
            _check_expansion(node, self.limits.max_expanded)
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise _limit(
                    event,
                    f"more than {self.limits.max_aliases} aliases in a document: "
                    "write the values out",
                )
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise _limit(event, f"nested deeper than {self.limits.max_depth} levels: flatten it")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _limit(event: Any, problem: str) -> _Limited:
    return _Limited(problem=problem, problem_mark=event.start_mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node, limit: int) -> None:
    """Refuse a node tree whose size with aliases expanded passes ``limit`` (or that
    holds itself). Each shared node is measured once, so this costs the size of the
    text, whatever the expansion."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if children_done:
            own = len(node.value) if isinstance(node, ScalarNode) else 0
            sizes[id(node)] = 1 + own + sum(sizes[id(c)] for c in _children(node))
            open_.discard(id(node))
            if sizes[id(node)] > limit:
                raise _Limited(
                    problem=f"larger than {limit} nodes and characters once its aliases are "
                    "expanded: write the values out",
                    problem_mark=node.start_mark,
                )
            continue
        if id(node) in open_:
            raise _Limited(
                problem="an anchor holds an alias of itself: write the values out",
                problem_mark=node.start_mark,
            )
        open_.add(id(node))
        stack.append((node, True))
        stack += [(c, False) for c in _children(node) if id(c) not in sizes]


def load_documents(text: str, limits: YamlLimits = LIMITS) -> list[Any]:
    """Every document of ``text`` (``None`` for empty ones); YamlRefused otherwise."""
    if len(text) > limits.max_bytes:
        raise YamlRefused(f"larger than {limits.max_bytes} bytes: split it into several files")
    loader = _Loader(text, limits)
    documents: list[Any] = []
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            if len(documents) == limits.max_documents:
                raise YamlRefused(f"more than {limits.max_documents} documents: split the file")
            documents.append(loader.get_data())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        problem = e.problem or str(e)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlRefused(problem, line, column, isinstance(e, _Limited)) from e
    except yaml.YAMLError as e:
        raise YamlRefused(str(e), limited=False) from e
    finally:
        loader.dispose()
    return documents
