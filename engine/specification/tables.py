"""The settings tables in ``schema/*.md``: the single source of every setting's facts.

Guarantees:

* ``load_catalogue`` returns every setting described by a Markdown table whose header
  row has the columns Key, Type, Default, Required, Sensitive, Accepted values and
  Description (Origin is optional); other Markdown in those files is prose and ignored.
* A table that cannot be trusted (unknown type, a default that does not fit its type,
  an enum without values, a key described twice, a malformed row) raises
  ``ConfigError`` with one diagnostic per problem, pointing at the table's line.
* Defaults are typed (``int``, ``bool``, ``str``, ``dict``) exactly as the canonical
  settings hold them, so the schema, the canonicaliser and the masking all agree.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.specification.errors import ConfigError
from engine.specification.formats import FORMATS, StringFormat
from engine.specification.model import Diagnostic, Location
from engine.specification.timespan import TIMESPAN_PATTERN as TIMESPAN_PATTERN
from engine.specification.timespan import parse_timespan

# The settings tables live in the repository's schema/ folder. engine/schema is a link
# to it, so an installed wheel (which copies the link's files) finds them too.
TABLES_DIR = (Path(__file__).resolve().parent.parent / "schema").resolve()

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


_COLUMNS = ("key", "type", "default", "required", "sensitive", "accepted values", "description")
_NO_DEFAULT = {"", "\u2014", "\u2013", "-"}  # empty, em dash, en dash, hyphen
_EMPTY_DEFAULT = "(empty)"
_RANGE = re.compile(r"^(-?\d+)?\.\.(-?\d+)?$")
_FORMAT_CELL = re.compile(r"^format\s+`([a-z0-9-]+)`$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*(:[A-Za-z][A-Za-z0-9]*)*$")


class SettingType(enum.Enum):
    STRING = "string"
    INT = "int"
    BOOLEAN = "boolean"
    DICT = "dict<string,string>"
    TIMESPAN = "TimeSpan"
    ENUM = "enum"


_TYPES_BY_NAME = {t.value.lower(): t for t in SettingType}


@dataclass(frozen=True)
class SettingSpec:
    """One row of a settings table."""

    key: str
    type: SettingType
    has_default: bool
    default: Any
    required: bool
    sensitive: bool
    accepted: tuple[str, ...]
    minimum: int | None
    maximum: int | None
    origin: str
    description: str
    source: Location
    # A string's required form (``format `name``` in Accepted values), if any.
    format: StringFormat | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split(":"))


@dataclass(frozen=True, eq=False)  # identity equality: usable as a cache key
class Catalogue:
    """Every setting, in table order, with case-insensitive lookup."""

    specs: tuple[SettingSpec, ...]
    by_lower: Mapping[str, SettingSpec] = field(init=False, repr=False)
    groups: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "by_lower", MappingProxyType({s.key.lower(): s for s in self.specs})
        )
        prefixes = set()
        for spec in self.specs:
            parts = spec.key.lower().split(":")
            for i in range(1, len(parts)):
                prefixes.add(":".join(parts[:i]))
        object.__setattr__(self, "groups", frozenset(prefixes))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.specs)

    def find(self, key: str) -> SettingSpec | None:
        """The spec whose key equals ``key`` ignoring letter case."""
        return self.by_lower.get(key.lower())

    def __getitem__(self, key: str) -> SettingSpec:
        spec = self.find(key)
        if spec is None:
            raise KeyError(key)
        return spec

    @property
    def sensitive_keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.specs if s.sensitive)

    @property
    def dict_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.specs if s.type is SettingType.DICT)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _split_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [c.strip().replace("\\|", "|") for c in cells]


def _code(text: str) -> str:
    """Text of a cell with one pair of surrounding backticks removed."""
    text = text.strip()
    if len(text) >= 2 and text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    return text


def _is_separator(line: str) -> bool:
    return all(re.fullmatch(r":?-{3,}:?", c) for c in _split_row(line))


def _yes_no(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text.strip().lower())


def _typed_default(raw: str, kind: SettingType, accepted: Sequence[str]) -> tuple[bool, Any]:
    """(has_default, value) for a Default cell; ValueError when it does not fit ``kind``."""
    if raw.strip() in _NO_DEFAULT:
        return False, None
    if raw.strip() == _EMPTY_DEFAULT:
        if kind is SettingType.DICT:
            return True, {}
        if kind is SettingType.STRING:
            return True, ""
        raise ValueError(f"(empty) is not a default for a {kind.value} setting")
    text = _code(raw)
    if kind is SettingType.INT:
        return True, int(text)
    if kind is SettingType.BOOLEAN:
        flag = {"true": True, "false": False}.get(text)
        if flag is None:
            raise ValueError(f"boolean default must be true or false, not {text!r}")
        return True, flag
    if kind is SettingType.TIMESPAN and parse_timespan(text) is None:
        raise ValueError(f"default {text!r} is not a TimeSpan (hh:mm:ss)")
    if kind is SettingType.ENUM and text not in accepted:
        raise ValueError(f"default {text!r} is not one of the accepted values")
    if kind is SettingType.DICT:
        raise ValueError("a dict<string,string> default can only be (empty)")
    return True, text


def _accepted(cell: str, kind: SettingType) -> tuple[tuple[str, ...], int | None, int | None]:
    tokens = tuple(re.findall(r"`([^`]+)`", cell))
    if kind is SettingType.INT:
        if not tokens:
            return (), None, None
        match = _RANGE.match(tokens[0])
        if len(tokens) != 1 or match is None:
            raise ValueError("an int's accepted values must be one range like `0..12`")
        low, high = match.groups()
        return (), int(low) if low else None, int(high) if high else None
    if kind is SettingType.ENUM and not tokens:
        raise ValueError("an enum needs its accepted values, each in backticks")
    if tokens and kind not in (SettingType.ENUM, SettingType.STRING):
        raise ValueError(f"a {kind.value} setting cannot list accepted values")
    return tokens, None, None


def _format(cell: str, kind: SettingType) -> StringFormat | None:
    """The named format of an Accepted values cell reading ``format `name```, if it does."""
    match = _FORMAT_CELL.match(cell.strip())
    if match is None:
        return None
    if kind is not SettingType.STRING:
        raise ValueError(f"a {kind.value} setting cannot have a format; only a string can")
    found = FORMATS.get(match.group(1))
    if found is None:
        raise ValueError(f"unknown format {match.group(1)!r}; known: {', '.join(FORMATS)}")
    return found


def _row_spec(cells: Mapping[str, str], source: Location) -> SettingSpec:
    key = _code(cells["key"])
    if not _KEY.match(key):
        raise ValueError(f"{key!r} is not a setting key (letters and digits, ':' between parts)")
    kind = _TYPES_BY_NAME.get(_code(cells["type"]).replace(" ", "").lower())
    if kind is None:
        names = ", ".join(t.value for t in SettingType)
        raise ValueError(f"unknown type {cells['type']!r}; use one of {names}")
    form = _format(cells["accepted values"], kind)
    accepted, minimum, maximum = (
        ((), None, None) if form else _accepted(cells["accepted values"], kind)
    )
    has_default, default = _typed_default(cells["default"], kind, accepted)
    required, sensitive = _yes_no(cells["required"]), _yes_no(cells["sensitive"])
    if required is None or sensitive is None:
        raise ValueError("Required and Sensitive must be yes or no")
    if required and has_default:
        raise ValueError("a required setting cannot have a default")
    if kind is SettingType.INT and has_default:
        low = INT32_MIN if minimum is None else minimum
        high = INT32_MAX if maximum is None else maximum
        if not low <= default <= high:
            raise ValueError(f"default {default} is outside {low}..{high}")
    if form is not None and has_default and not re.search(form.pattern, default):
        raise ValueError(f"default {default!r} is not {form.summary}")
    return SettingSpec(
        key=key,
        type=kind,
        has_default=has_default,
        default=default,
        required=required,
        sensitive=sensitive,
        accepted=accepted,
        minimum=minimum,
        maximum=maximum,
        origin=cells.get("origin", "").strip(),
        description=cells["description"].strip(),
        source=source,
        format=form,
    )


def parse_tables(text: str, path: str) -> tuple[list[SettingSpec], list[Diagnostic]]:
    """Settings rows of every settings table in one Markdown text, plus row problems."""
    specs: list[SettingSpec] = []
    problems: list[Diagnostic] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        header = (
            [c.lower() for c in _split_row(lines[i])] if lines[i].lstrip().startswith("|") else []
        )
        if "key" not in header or "type" not in header:
            i += 1
            continue
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            problems.append(
                Diagnostic(
                    Location(path, i + 1), f"settings table lacks columns: {', '.join(missing)}"
                )
            )
        if i + 1 >= len(lines) or not _is_separator(lines[i + 1]):
            problems.append(
                Diagnostic(Location(path, i + 1), "table header without a separator row")
            )
            i += 1
            continue
        i += 2
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            where = Location(path, i + 1)
            cells = _split_row(lines[i])
            if len(cells) != len(header):
                problems.append(
                    Diagnostic(where, f"row has {len(cells)} cells, the header has {len(header)}")
                )
            elif not missing:
                try:
                    specs.append(_row_spec(dict(zip(header, cells, strict=True)), where))
                except ValueError as exc:
                    problems.append(Diagnostic(where, str(exc), key=_code(cells[0]) or None))
            i += 1
    return specs, problems


def _table_files(directory: Path) -> list[Path]:
    # The common settings come after the sink's own, so the schema reads topic first.
    files = [p for p in directory.glob("*.md") if p.is_file()]
    return sorted(files, key=lambda p: (p.name == "common.md", p.name))


def _stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in _table_files(directory))


@lru_cache(maxsize=8)
def _load(directory: Path, stamp: tuple[tuple[str, int, int], ...]) -> Catalogue:
    del stamp  # part of the cache key only: an edited table is read again
    specs: list[SettingSpec] = []
    problems: list[Diagnostic] = []
    for file in _table_files(directory):
        found, issues = parse_tables(file.read_text(encoding="utf-8"), display_path(file))
        specs.extend(found)
        problems.extend(issues)
    seen: dict[str, SettingSpec] = {}
    for spec in specs:
        first = seen.setdefault(spec.key.lower(), spec)
        if first is not spec:
            problems.append(
                Diagnostic(
                    spec.source,
                    f"described twice (first at {first.source.format()})",
                    key=spec.key,
                )
            )
    for spec in specs:
        parts = spec.key.lower().split(":")
        if any(":".join(parts[:i]) in seen for i in range(1, len(parts))):
            problems.append(
                Diagnostic(
                    spec.source, "a setting cannot also be a group of settings", key=spec.key
                )
            )
    if not specs and not problems:
        problems.append(Diagnostic(Location(display_path(directory)), "no settings tables found"))
    if problems:
        raise ConfigError(problems)
    return Catalogue(tuple(specs))


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Every setting described by the tables in ``directory`` (default: ``schema/``)."""
    folder = Path(directory) if directory is not None else TABLES_DIR
    if not folder.is_dir():
        raise ConfigError([Diagnostic(Location(str(folder)), "settings tables folder not found")])
    return _load(folder.resolve(), _stamp(folder))
