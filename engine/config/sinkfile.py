"""One sink file → its sinks and diagnostics (``load_one``); the folder is source.py's.

Guarantees:

* ``load_one`` never raises: unreadable, binary or oversized files, template and YAML
  errors, documents that are not sink mappings, unknown or repeated top-level keys,
  bad names, labels or settings each become diagnostics; a defect in this code itself
  becomes an "internal error while loading" diagnostic for this file alone.
* Top-level keys are ``name`` (required), ``description``, ``enabled``, ``labels`` and
  ``settings``, in any letter case; a misspelt one gets a did-you-mean.
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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config.canonical import canonicalise
from engine.config.templating import TemplateContext
from engine.config.yamlmarks import (
    MarkedDocument,
    PathKey,
    decode_sink_text,
    parse_yaml,
    read_sink_bytes,
)
from engine.model import Diagnostic, Location, Related, Severity, SinkDefinition

TOP_LEVEL_KEYS = ("name", "description", "enabled", "labels", "settings")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
        fields: dict[str, tuple[str, Any]] = {}
        for written_key, value in doc.value.items():
            folded = written_key.lower()
            where = doc.locate((written_key,), False)
            if folded not in TOP_LEVEL_KEYS:
                problems.append(Diagnostic(where, _unknown(written_key, TOP_LEVEL_KEYS)))
                continue
            if folded in fields:
                problems.append(Diagnostic(where, f"'{written_key}' repeats '{fields[folded][0]}'"))
                continue
            fields[folded] = (written_key, value)

        def at(key: str) -> Location | None:
            return doc.locate((fields[key][0],), True) if key in fields else doc.start

        name = fields.get("name", ("name", None))[1]
        if "name" not in fields:
            problems.append(Diagnostic(doc.start, "missing required key 'name'"))
        elif not isinstance(name, str) or not NAME_PATTERN.match(name):
            problems.append(
                Diagnostic(
                    at("name"),
                    f"invalid sink name {name!r}",
                    key="name",
                    note="1-100 characters: letters, digits, '.', '_', '-', "
                    "starting with a letter or digit",
                )
            )
        description = fields.get("description", ("", ""))[1]
        if description is None:
            description = ""
        if not isinstance(description, str):
            problems.append(Diagnostic(at("description"), "must be a string", key="description"))
        enabled = fields.get("enabled", ("", True))[1]
        if not isinstance(enabled, bool):
            problems.append(
                Diagnostic(at("enabled"), f"must be true or false, not {enabled!r}", key="enabled")
            )
        labels = fields.get("labels", ("", {}))[1]
        if labels is None:
            labels = {}
        if not isinstance(labels, dict):
            problems.append(Diagnostic(at("labels"), "must be a mapping of strings", key="labels"))
        else:
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
        settings_key, settings = fields.get("settings", ("settings", {}))
        if settings is None:
            settings = {}
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
            name=str(name),
            settings=canonical.settings,
            canonical=canonical.canonical,
            explicit=canonical.explicit,
            source_file=self.display,
            description=str(description),
            enabled=bool(enabled),
            labels=dict(labels),
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
