"""One sink file → its sinks and diagnostics (``load_one``); the folder is source.py's.

Guarantees:

* ``load_one`` never raises (but a ``MemoryError`` in a process under an address-space
  limit, which the bounded worker of ``engine.config.isolation`` reports): unreadable,
  binary or oversized files, template and YAML errors, documents that are not sink
  mappings, unknown or repeated top-level keys, bad names, labels or settings each
  become diagnostics; a defect in this code itself becomes an "internal error while
  loading" diagnostic for this file alone.
* Top-level keys are those of ``engine.config.document`` (``name`` required), in any
  letter case; a misspelt one gets a did-you-mean.
* For templates, locations of the rendered YAML are mapped back to template lines
  when the line map can tell, else the diagnostic says which rendered line it means.
* ``FileResult.written`` keeps, per sink, each explicit setting as written (strings in
  the user's spelling, e.g. ``stream`` rather than ``Stream``), for exports.
* ``FileResult.names`` lists every document's sink name with its location, repeats
  included; ``sinks`` keeps the first sink of each name. Repeated names (in one file
  or across files) are diagnosed in one place, ``engine.config.duplicates``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config.canonical import canonicalise
from engine.config.document import KEY_NAMES, MISSING, TOP_LEVEL_KEYS
from engine.config.templating import TemplateContext
from engine.config.yamlmarks import (
    MarkedDocument,
    PathKey,
    decode_sink_text,
    parse_yaml,
    read_sink_bytes,
)
from engine.sandbox.limits import address_space_limited
from engine.specification.constants import SINK_NAME_PATTERN, SINK_NAME_RULE
from engine.specification.model import Diagnostic, Location, Related, Severity, SinkDefinition

NAME_PATTERN = re.compile(SINK_NAME_PATTERN)


@dataclass(frozen=True)
class FileResult:
    path: str
    sinks: tuple[SinkDefinition, ...]
    diagnostics: tuple[Diagnostic, ...]
    # sink name → canonical key → the value as written (strings keep their spelling)
    written: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # every document's sink name and the location of its ``name`` value, repeats included
    names: tuple[tuple[str, Location], ...] = ()

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)


def load_one(
    file: Path, display: str, context: TemplateContext, data: bytes | None = None
) -> FileResult:
    """Load ``file`` (or ``data``, its bytes as already read) for ``context``."""
    try:
        return _FileLoader(file, display, context).load(data)
    except MemoryError:
        if address_space_limited():
            raise  # the bounded worker that set the limit reports it
        return FileResult(
            display,
            (),
            (Diagnostic(Location(display), "internal error while loading: MemoryError()"),),
        )
    except Exception as exc:  # a defect here must not hide the other files
        return FileResult(
            display,
            (),
            (Diagnostic(Location(display), f"internal error while loading: {exc!r}"),),
        )


class _FileLoader:
    """Loads one file; collects its diagnostics and the sinks that passed."""

    def __init__(self, file: Path, display: str, context: TemplateContext) -> None:
        self.file = file
        self.display = display
        self.context = context
        self.diagnostics: list[Diagnostic] = []
        self.line_map: Any = None

    def load(self, data: bytes | None) -> FileResult:
        problem = None
        if data is None:
            data, problem = read_sink_bytes(self.file, self.display)
        text = None
        if data is not None:
            text, problem = decode_sink_text(data, self.display)
        if problem is not None or text is None:
            return FileResult(self.display, (), (problem,) if problem else ())
        if self.display.endswith(".j2"):
            outcome = self.context.render(self.file, self.display, text)
            self.diagnostics.extend(outcome.diagnostics)
            if outcome.text is None:
                return FileResult(self.display, (), tuple(self.diagnostics))
            text = outcome.text
            self.line_map = outcome.line_map
        parsed = parse_yaml(text, self.display)
        found = list(parsed.diagnostics)
        if not parsed.documents and not parsed.diagnostics:
            found.append(
                Diagnostic(
                    Location(self.display), "file defines no sinks", severity=Severity.WARNING
                )
            )
        sinks: list[SinkDefinition] = []
        written: dict[str, Mapping[str, Any]] = {}
        names: list[tuple[str, Location]] = []
        for document in parsed.documents:
            sink, raw, problems = self._document(document)
            found.extend(problems)
            if sink is None:
                continue
            where = self._relocate_location(document.locate(("name",), True))
            first_use = sink.name not in written
            names.append((sink.name, where or Location(self.display)))
            if first_use:
                sinks.append(sink)
                written[sink.name] = raw
        relocated = [self._relocate(d) for d in found]
        relocated.sort(key=lambda d: d.location.line if d.location else 0)
        self.diagnostics.extend(relocated)
        return FileResult(
            self.display, tuple(sinks), tuple(self.diagnostics), written, tuple(names)
        )

    # -- one document ---------------------------------------------------------------------

    def _document(
        self, doc: MarkedDocument
    ) -> tuple[SinkDefinition | None, Mapping[str, Any], list[Diagnostic]]:
        problems: list[Diagnostic] = []
        if not isinstance(doc.value, dict):
            kind = _kind(doc.value)
            problems.append(Diagnostic(doc.start, f"a sink document must be a mapping, not {kind}"))
            return None, {}, problems
        fields = _top_level_fields(doc, problems)
        values = _with_defaults(fields)

        def at(key: str) -> Location | None:
            return doc.locate((fields[key][0],), True) if key in fields else doc.start

        problems.extend(_check_top_level(doc, fields, values, at))
        settings_key = fields.get("settings", ("settings", None))[0]
        settings = values["settings"]
        if not isinstance(settings, dict):
            problems.append(
                Diagnostic(
                    at("settings"), f"must be a mapping, not {_kind(settings)}", key="settings"
                )
            )
            return None, {}, problems
        by_location: dict[Location, PathKey] = {}

        def locate(path: tuple[str | int, ...], value: bool) -> Location | None:
            full = (settings_key, *path)
            where = doc.locate(full, value)
            if value and where is not None and full in doc.values_at:
                by_location[where] = full
            return where

        canonical = canonicalise(settings, locate, path=self.display)
        problems.extend(canonical.diagnostics)
        if (
            canonical.settings is None
            or canonical.canonical is None
            or any(p.severity is Severity.ERROR for p in problems)
        ):
            return None, {}, problems
        raw = self._written(
            doc, canonical.canonical, canonical.explicit, canonical.locations, by_location
        )
        sink = SinkDefinition(
            name=str(values["name"]),
            settings=canonical.settings,
            canonical=canonical.canonical,
            explicit=canonical.explicit,
            source_file=self.display,
            description=str(values["description"]),
            enabled=bool(values["enabled"]),
            labels=dict(values["labels"]),
            locations={
                k: self._relocate_location(v) or Location(self.display)
                for k, v in canonical.locations.items()
            },
        )
        return sink, raw, problems

    def _written(
        self,
        doc: MarkedDocument,
        settings: Mapping[str, Any],
        explicit: frozenset[str],
        locations: Mapping[str, Location],
        by_location: Mapping[Location, PathKey],
    ) -> dict[str, Any]:
        """Explicit keys with string values spelt as written (``stream`` stays ``stream``)."""
        result: dict[str, Any] = {}
        for key in sorted(explicit):
            value = settings.get(key)
            where = locations.get(key)
            path = by_location.get(where) if where is not None else None
            raw = _get_in(doc.value, path) if path else None
            if isinstance(raw, str) and isinstance(value, str) and raw.lower() == value.lower():
                value = raw
            result[key] = value
        return result

    # -- template line mapping ------------------------------------------------------------

    def _relocate_location(self, where: Location | None) -> Location | None:
        if where is None or self.line_map is None or where.path != self.display:
            return where
        mapped = self.line_map.map(where.line, where.column)
        if mapped is None:
            return Location(self.display)
        return Location(self.display, mapped[0], mapped[1])

    def _relocate(self, diagnostic: Diagnostic) -> Diagnostic:
        where = diagnostic.location
        if where is None or self.line_map is None or where.path != self.display:
            return diagnostic
        related = tuple(self._relocate_related(r) for r in diagnostic.related)
        mapped = self.line_map.map(where.line, where.column)
        if mapped is not None:
            new = Location(self.display, mapped[0], mapped[1])
            return replace(diagnostic, location=new, related=related)
        note = f"at line {where.line} of the rendered output (see `sinks render`)"
        if diagnostic.note:
            note = f"{diagnostic.note}; {note}"
        return replace(diagnostic, location=Location(self.display), note=note, related=related)

    def _relocate_related(self, related: Related) -> Related:
        """A related place on a rendered line names the template's line instead."""
        where = related.location
        if where.path != self.display or self.line_map is None:
            return related
        mapped = self.line_map.map(where.line, max(where.column, 1))
        if mapped is None:
            return replace(related, rendered=True)
        return replace(related, location=Location(self.display, mapped[0], mapped[1]))


# -- the top-level keys (engine.config.document describes them) ----------------------------

Fields = dict[str, tuple[str, Any]]  # folded key → (the key as written, its value)


def _top_level_fields(doc: MarkedDocument, problems: list[Diagnostic]) -> Fields:
    """The document's top-level keys by folded name; unknown and repeated ones reported."""
    fields: Fields = {}
    for written_key, value in doc.value.items():
        folded = written_key.lower()
        where = doc.locate((written_key,), False)
        if folded not in KEY_NAMES:
            problems.append(Diagnostic(where, _unknown(written_key, KEY_NAMES)))
            continue
        if folded in fields:
            problems.append(Diagnostic(where, f"'{written_key}' repeats '{fields[folded][0]}'"))
            continue
        fields[folded] = (written_key, value)
    return fields


def _with_defaults(fields: Fields) -> dict[str, Any]:
    """Each top-level value as written, else its default (None for a missing required key)."""
    values: dict[str, Any] = {}
    for key in TOP_LEVEL_KEYS:
        value = fields[key.name][1] if key.name in fields else key.default
        if value is None and key.empty_is_default:
            value = key.default
        if value is MISSING:
            value = None
        if value is key.default and isinstance(value, Mapping):
            value = dict(value)  # a fresh mapping per document, never the shared default
        values[key.name] = value
    return values


def _check_top_level(
    doc: MarkedDocument,
    fields: Fields,
    values: Mapping[str, Any],
    at: Callable[[str], Location | None],
) -> list[Diagnostic]:
    """What is wrong with the name, description, enabled and labels (not the settings)."""
    problems = [
        Diagnostic(doc.start, f"missing required key '{key.name}'")
        for key in TOP_LEVEL_KEYS
        if key.default is MISSING and key.name not in fields
    ]
    name = values["name"]
    if "name" in fields and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        problems.append(
            Diagnostic(at("name"), f"invalid sink name {name!r}", key="name", note=SINK_NAME_RULE)
        )
    if not isinstance(values["description"], str):
        problems.append(Diagnostic(at("description"), "must be a string", key="description"))
    enabled = values["enabled"]
    if not isinstance(enabled, bool):
        problems.append(
            Diagnostic(at("enabled"), f"must be true or false, not {enabled!r}", key="enabled")
        )
    labels = values["labels"]
    if not isinstance(labels, dict):
        problems.append(Diagnostic(at("labels"), "must be a mapping of strings", key="labels"))
        return problems
    label_key = fields.get("labels", ("labels", None))[0]
    for key, value in labels.items():
        if not isinstance(value, str):
            problems.append(
                Diagnostic(
                    doc.locate((label_key, key), True),
                    f"label values must be strings, not {_kind(value)} (quote it)",
                    key=f"labels:{key}",
                )
            )
    return problems


def _get_in(value: Any, path: PathKey) -> Any:
    for part in path:
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if in_dict or in_list:
            value = value[part]
        else:
            return None
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


def _unknown(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key '{key}' (expected one of {', '.join(known)})"
