"""YAML parsing that remembers where every key and value was written.

Guarantees:

* ``parse_yaml`` never raises for any text: syntax errors, duplicate keys,
  recursive or exploding aliases ("billion laughs"), too-deep nesting, unknown
  tags and non-string keys all come back as ``Diagnostic`` values with a
  1-based line and column.
* Keys are the text as written (``on:`` stays the string ``"on"``; YAML 1.1
  would make it ``True``), so a header or settings key is never silently retyped.
* Timestamps stay strings; ``!!binary`` and other non-JSON values are errors.
* ``read_sink_text`` refuses binary, non-UTF-8 and over-sized files before any
  parser sees them.

Scalars other than keys follow YAML 1.1 (``true``/``yes``/``on`` are booleans),
the same as PyYAML's safe loader.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.specification.model import Diagnostic, Location, Related, Relation

MAX_FILE_BYTES = 1024 * 1024
# An expanded document above this many nodes is an alias bomb, not a sink.
MAX_NODES = 50_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SIMPLE_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_PLAIN_ONLY = "only plain YAML values (JSON types) are allowed"


@dataclass(frozen=True)
class MarkedDocument:
    """One YAML document as plain Python values plus the marks of each path."""

    value: Any
    start: Location
    values_at: Mapping[PathKey, Location] = field(default_factory=dict)
    keys_at: Mapping[PathKey, Location] = field(default_factory=dict)

    def locate(self, path: PathKey, value: bool = True) -> Location | None:
        """Location of ``path`` (value or key); the nearest written ancestor otherwise."""
        table = self.values_at if value else self.keys_at
        probe = tuple(path)
        while probe:
            found = table.get(probe) or self.values_at.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.values_at.get((), self.start)


@dataclass(frozen=True)
class ParsedYaml:
    documents: tuple[MarkedDocument, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not self.diagnostics


class _Problem(Exception):
    def __init__(self, message: str, node: Node, note: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
        self.note = note


def _loc(path: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns one composed node graph into Python values, recording marks."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values_at: dict[PathKey, Location] = {}
        self.keys_at: dict[PathKey, Location] = {}
        self.count = 0
        self.active: set[int] = set()
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Diagnostic] = []

    def build(self, node: Node, at: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Problem(
                f"document expands to more than {MAX_NODES} values",
                node,
                "aliases (*name) that repeat large anchors are refused",
            )
        if len(at) > MAX_DEPTH:
            raise _Problem(f"nesting deeper than {MAX_DEPTH} levels", node)
        self.values_at.setdefault(at, _loc(self.path, node))
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            raise _Problem("recursive alias: a value contains itself", node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise _Problem(f"unsupported tag {node.tag!r}", node, _PLAIN_ONLY)
                return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    raise _Problem(f"unsupported tag {node.tag!r}", node, _PLAIN_ONLY)
                return self._mapping(node, at)
        finally:
            self.active.discard(id(node))
        raise _Problem("unsupported YAML node", node)  # pragma: no cover - closed set

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag == _TIMESTAMP:
            return node.value
        if node.tag in _SIMPLE_TAGS:
            try:
                value = self.constructor.construct_object(node, deep=True)
            except (ValueError, yaml.YAMLError) as exc:
                raise _Problem(f"invalid {node.tag.rsplit(':', 1)[-1]}: {exc}", node) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise _Problem(f"number {node.value!r} is not finite", node)
            return value
        raise _Problem(f"unsupported tag {node.tag!r}", node, _PLAIN_ONLY)

    def _key_text(self, node: Node) -> str:
        if isinstance(node, ScalarNode):
            if node.tag not in (_STR, *_SIMPLE_TAGS, _TIMESTAMP):
                raise _Problem(f"unsupported tag {node.tag!r} on a key", node)
            return str(node.value)
        raise _Problem("a key must be a plain value, not a list or mapping", node)

    def _mapping(self, node: MappingNode, at: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        written: dict[str, Node] = {}
        merged: list[tuple[MappingNode, PathKey]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node))
                continue
            key = self._key_text(key_node)
            if key in written:
                first = _loc(self.path, written[key])
                self.problems.append(
                    Diagnostic(
                        _loc(self.path, key_node),
                        f"duplicate key '{key}'",
                        key=_dotted(at) or None,
                        related=(Related(first, Relation.FIRST_WRITTEN),),
                    )
                )
                continue
            written[key] = key_node
            self.keys_at[(*at, key)] = _loc(self.path, key_node)
            result[key] = self.build(value_node, (*at, key))
        # "<<: *base" fills only the keys the mapping did not write itself.
        for source, _ in merged:
            for key_node, value_node in source.value:
                key = self._key_text(key_node)
                if key in result:
                    continue
                self.keys_at[(*at, key)] = _loc(self.path, key_node)
                result[key] = self.build(value_node, (*at, key))
        return result

    def _merge_sources(self, node: Node) -> Iterator[tuple[MappingNode, PathKey]]:
        if isinstance(node, MappingNode):
            yield node, ()
            return
        if isinstance(node, SequenceNode):
            for item in node.value:
                if not isinstance(item, MappingNode):
                    raise _Problem("'<<' merges only mappings", item)
                yield item, ()
            return
        raise _Problem("'<<' merges only mappings", node)


def _dotted(at: PathKey) -> str:
    return ".".join(str(p) for p in at)


def _deep_risk(text: str) -> bool:
    """True when the C parser's unchecked recursion could run deep (use pure Python)."""
    if len(text) > 256 * 1024:
        return True
    depth = peak = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            peak = max(peak, depth)
        elif ch in "]}":
            depth -= 1
    if peak > 64:
        return True
    return any(len(line) > 400 for line in text.splitlines())


def _compose(text: str, fast: bool) -> Iterator[Node | None]:
    loader_cls: Any = yaml.CSafeLoader if fast else yaml.SafeLoader
    loader = loader_cls(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def _yaml_error(path: str, exc: yaml.YAMLError, text: str | None = None) -> Diagnostic:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        note = None
        if exc.context and exc.problem:
            ctx_line = exc.context_mark.line + 1 if exc.context_mark else None
            note = exc.context + (f" at line {ctx_line}" if ctx_line else "")
        location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        return Diagnostic(location, f"invalid YAML: {message}", note=note)
    if isinstance(exc, yaml.reader.ReaderError):
        where = Location(path)
        if isinstance(exc.name, str) and text is not None:
            before = text[: exc.position]
            where = Location(path, before.count("\n") + 1, len(before.rsplit("\n", 1)[-1]) + 1)
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Diagnostic(where, f"invalid YAML: unacceptable character #x{character:04x}")
    return Diagnostic(Location(path), f"invalid YAML: {exc}")


def parse_yaml(text: str, path: str) -> ParsedYaml:
    """Parse every document of ``text``; ``path`` is the name diagnostics print."""
    if text.startswith("\ufeff"):
        text = text[1:]
    fast = yaml.__with_libyaml__ and not _deep_risk(text)
    try:
        return _parse(text, path, fast)
    except yaml.YAMLError:
        if not fast:
            raise
    # libyaml and PyYAML word errors differently: report PyYAML's consistently.
    return _parse(text, path, False)


def _parse(text: str, path: str, fast: bool) -> ParsedYaml:
    documents: list[MarkedDocument] = []
    diagnostics: list[Diagnostic] = []
    try:
        for node in _compose(text, fast):
            if node is None:
                continue
            builder = _Builder(path)
            try:
                value = builder.build(node, ())
            except _Problem as problem:
                diagnostics.extend(builder.problems)
                diagnostics.append(
                    Diagnostic(_loc(path, problem.node), problem.message, note=problem.note)
                )
                continue
            diagnostics.extend(builder.problems)
            if value is None:  # an empty document ("---" with nothing after it)
                continue
            documents.append(
                MarkedDocument(value, _loc(path, node), builder.values_at, builder.keys_at)
            )
    except yaml.YAMLError as exc:
        if fast:
            raise
        diagnostics.append(_yaml_error(path, exc, text))
    except RecursionError:
        diagnostics.append(
            Diagnostic(Location(path), f"invalid YAML: nesting deeper than {MAX_DEPTH} levels")
        )
    return ParsedYaml(tuple(documents), tuple(diagnostics))


def read_sink_text(file: Path, display: str) -> tuple[str | None, Diagnostic | None]:
    """The file's text, or why it cannot be a sink file (too big, binary, not UTF-8)."""
    data, problem = read_sink_bytes(file, display)
    if data is None:
        return None, problem
    return decode_sink_text(data, display)


def read_sink_bytes(file: Path, display: str) -> tuple[bytes | None, Diagnostic | None]:
    """The file's bytes (at most the size limit), or why they cannot be read."""
    try:
        status = file.stat()
        if not stat.S_ISREG(status.st_mode):
            # A FIFO or device would block or never end: only regular files are read.
            return None, Diagnostic(Location(display), "not a regular file")
        size = status.st_size
        if size > MAX_FILE_BYTES:
            return None, Diagnostic(
                Location(display), f"file is too large ({size} bytes; the limit is 1 MiB)"
            )
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, Diagnostic(Location(display), f"cannot read file: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        return None, Diagnostic(Location(display), "file is too large (the limit is 1 MiB)")
    return data, None


def decode_sink_text(data: bytes, display: str) -> tuple[str | None, Diagnostic | None]:
    """``data`` as UTF-8 text, or why it is not text."""
    if b"\x00" in data:
        return None, Diagnostic(Location(display), "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, Diagnostic(
            Location(display, line), "file is not valid UTF-8 text (binary file?)"
        )
    return text, None
