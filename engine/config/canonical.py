"""One sink's settings as written → canonical settings, or every reason why not.

``canonicalise`` guarantees:

* Keys may be nested (``authentication: {username: x}``), flat
  (``"authentication:username": x``) or mixed, in any letter case; the result uses
  the canonical flat spelling from the settings tables. The same key written twice
  (in two spellings or two forms) is an error naming both places.
* ``defaultHeaders`` may be a mapping or ``defaultHeaders:<Name>`` keys, or both.
* Values are typed the way the original's string-valued settings API reads them:
  ``"true"``/``"6"`` become ``True``/``6``, enum values match in any case and are
  stored in canonical spelling, TimeSpans are checked and written ``hh:mm:ss``.
* The typed result is validated against the JSON Schema generated from the tables;
  defaults are applied; the ``SinkSettings`` is built from it, once, and checked by
  the second-pass rules (``engine.config.rules``).
* Two results, built once and never derived from each other again: ``settings``
  (typed: enums, seconds) for everything that runs or reports the sink, and
  ``canonical`` (flat keys, values as the tables spell them) for what prints, diffs
  or hashes them.
* Every problem is reported in one go, as compiler-style diagnostics sorted by
  position; ``settings`` and ``canonical`` are None exactly when one of them is an
  error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema

from engine.config import rules
from engine.config.schemagen import DIALECT, canonical_settings_schema
from engine.config.suggest import closest, did_you_mean
from engine.config.values import coerce, coerce_text, describe
from engine.specification.model import Diagnostic, Location, Severity
from engine.specification.settings import SinkSettings
from engine.specification.tables import Catalogue, SettingSpec, SettingType, load_catalogue

PathKey = tuple[str | int, ...]
Locator = Callable[[PathKey, bool], Location | None]


@dataclass(frozen=True)
class Canonical:
    settings: SinkSettings | None  # None when there are errors
    canonical: dict[str, Any] | None  # the same settings as flat keys; None with them
    explicit: frozenset[str]
    locations: dict[str, Location]  # canonical key → location of its value
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.settings is not None


@dataclass(frozen=True)
class _Entry:
    written: tuple[str, ...]  # the keys as written, from `settings` down
    value: Any


def _shown(written: tuple[str, ...]) -> str:
    """How a written key path reads in a message: 'a:b' flat, 'a' > 'b' nested."""
    return " > ".join(f"'{part}'" for part in written)


class _Collector:
    """Walks the written settings and sorts every leaf under its canonical key."""

    def __init__(self, catalogue: Catalogue, locate: Locator, path: str) -> None:
        self.catalogue = catalogue
        self.locate = locate
        self.path = path
        self.leaves: dict[str, _Entry] = {}
        self.entries: dict[str, dict[str, tuple[str, _Entry]]] = {}  # dict key → lower name
        self.containers: dict[str, tuple[str, ...]] = {}  # dict key → first written path
        self.failed: set[str] = set()
        self.diagnostics: list[Diagnostic] = []

    def where(self, written: PathKey, value: bool) -> Location:
        found = self.locate(written, value)
        if found is None and value:
            found = self.locate(written, False)
        return found if found is not None else Location(self.path)

    def error(self, written: PathKey, value: bool, key: str | None, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.where(written, value), message, key=key))

    def walk(self, mapping: Mapping[Any, Any], prefix: tuple[str, ...]) -> None:
        for raw_key, value in mapping.items():
            written = (*prefix, str(raw_key))
            joined = ":".join(written)
            lower = joined.lower()
            dict_spec = self._dict_spec(lower)
            if dict_spec is not None:
                self._dict_value(dict_spec, joined, written, value)
                continue
            spec = self.catalogue.find(lower)
            if spec is not None:
                self._leaf(spec, written, value)
            elif lower in self.catalogue.groups:
                if isinstance(value, Mapping):
                    self.walk(value, written)
                else:
                    self._not_a_group(lower, written, value)
            elif isinstance(value, Mapping) and value:
                self.walk(value, written)  # unknown group: report its leaves, with suggestions
            else:
                self._unknown(joined, written)

    def _dict_spec(self, lower: str) -> SettingSpec | None:
        for key in self.catalogue.dict_keys:
            if lower == key.lower() or lower.startswith(key.lower() + ":"):
                return self.catalogue[key]
        return None

    def _dict_value(
        self, spec: SettingSpec, joined: str, written: tuple[str, ...], value: Any
    ) -> None:
        self.containers.setdefault(spec.key, written)
        self.entries.setdefault(spec.key, {})
        if len(joined) > len(spec.key):  # defaultHeaders:<Name>
            self._dict_entry(spec, joined[len(spec.key) + 1 :], written, value)
        elif isinstance(value, Mapping):
            for name, item in value.items():
                self._dict_entry(spec, str(name), (*written, str(name)), item)
        else:
            self.failed.add(spec.key)
            self.error(
                written,
                True,
                spec.key,
                f"expected a mapping of names to strings, got {describe(value)}",
            )

    def _dict_entry(
        self, spec: SettingSpec, name: str, written: tuple[str, ...], value: Any
    ) -> None:
        key = f"{spec.key}:{name}"
        if not name.strip():
            self.failed.add(spec.key)
            self.error(written, False, spec.key, "an entry needs a non-empty name")
            return
        entries = self.entries[spec.key]
        first = entries.get(name.lower())
        if first is not None:
            self._twice(spec.key, key, first[1].written, written)
            return
        entries[name.lower()] = (name, _Entry(written, value))

    def _leaf(self, spec: SettingSpec, written: tuple[str, ...], value: Any) -> None:
        first = self.leaves.get(spec.key)
        if first is not None:
            self._twice(spec.key, spec.key, first.written, written)
            return
        self.leaves[spec.key] = _Entry(written, value)

    def _twice(
        self, setting: str, key: str, first: tuple[str, ...], second: tuple[str, ...]
    ) -> None:
        self.failed.add(setting)
        here, there = self.where(second, False), self.where(first, False)
        self.diagnostics.append(
            Diagnostic(
                here,
                f"set twice: as {_shown(first)} at {there.format()} and as "
                f"{_shown(second)} at {here.format()}",
                key=key,
            )
        )

    def _not_a_group(self, lower: str, written: tuple[str, ...], value: Any) -> None:
        members = [s.key for s in self.catalogue.specs if s.key.lower().startswith(lower + ":")]
        group = members[0][: len(lower)]
        self.error(
            written,
            True,
            group,
            f"is a group of settings, not a setting: expected a mapping (or flat keys such as "
            f"'{members[0]}'), got {describe(value)}",
        )

    def _unknown(self, joined: str, written: tuple[str, ...]) -> None:
        match = _suggest_key(joined, self.catalogue.keys)
        hint = f" (did you mean '{match}'?)" if match else ""
        self.error(written, False, joined, f"unknown setting{hint}")


# A looser match would offer 'logging:enabled' for a stray 'enabled'.
_CLOSE_ENOUGH = 0.8


def _suggest_key(joined: str, keys: tuple[str, ...]) -> str | None:
    """The known key most probably meant by an unknown one, if any is likely.

    A near-identical key of the same depth wins; then a key whose last part is
    near-identical (a group left out: "passwrd", "subscription:filterType"); then a
    looser match of the same depth.
    """
    same_depth = [k for k in keys if k.count(":") == joined.count(":")]
    match = closest(joined, same_depth, cutoff=_CLOSE_ENOUGH)
    if match is not None:
        return match
    ends = sorted({k.split(":")[-1] for k in keys})
    last = closest(joined.split(":")[-1], ends, cutoff=_CLOSE_ENOUGH)
    owners = [k for k in keys if k.split(":")[-1] == last]
    if len(owners) == 1:
        return owners[0]
    return closest(joined, same_depth)


@lru_cache(maxsize=8)
def _validator(catalogue: Catalogue) -> jsonschema.Draft202012Validator:
    schema = {"$schema": DIALECT, **canonical_settings_schema(catalogue)}
    return jsonschema.Draft202012Validator(schema)


def _schema_message(error: jsonschema.ValidationError, spec: SettingSpec | None) -> str:
    kind, expected, got = error.validator, error.validator_value, error.instance
    if kind == "minimum":
        return f"must be at least {expected}, got {describe(got)}"
    if kind == "maximum":
        return f"must be at most {expected}, got {describe(got)}"
    if kind == "enum":
        options = [str(v) for v in expected]
        return f"{describe(got)} is not one of {', '.join(options)}" + did_you_mean(
            str(got), options
        )
    if kind == "pattern" and spec is not None and spec.type is SettingType.TIMESPAN:
        return f"expected a TimeSpan (hh:mm:ss), got {describe(got)}"
    if kind == "pattern" and spec is not None and spec.format is not None:
        return f"{describe(got)} is not {spec.format.summary}"
    if kind == "type":
        return f"expected a value of type {expected}, got {describe(got)}"
    return str(error.message)


def canonicalise(
    settings: Mapping[str, Any],
    locate: Locator,
    *,
    path: str,
    catalogue: Catalogue | None = None,
) -> Canonical:
    """Normalise and validate one sink's ``settings`` (the mapping under ``settings:``).

    ``locate(keys_as_written, value)`` gives the position of a key (False) or of its
    value (True); ``path`` names the file when it has no answer.
    """
    cat = catalogue if catalogue is not None else load_catalogue()
    collector = _Collector(cat, locate, path)
    collector.walk(settings, ())

    typed: dict[str, Any] = {}
    value_paths: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, entry in collector.leaves.items():
        value, problem = coerce(cat[key], entry.value)
        value_paths[(key,)] = entry.written
        if problem is not None:
            collector.failed.add(key)
            collector.error(entry.written, True, key, problem)
        else:
            typed[key] = value
    for key, entries in collector.entries.items():
        mapping: dict[str, str] = {}
        for name, entry in entries.values():
            text, problem = coerce_text(entry.value)
            value_paths[(key, name)] = entry.written
            if problem is not None:
                collector.failed.add(key)
                collector.error(entry.written, True, f"{key}:{name}", problem)
            else:
                mapping[name] = text
        if key not in collector.failed:
            typed[key] = mapping

    for error in _validator(cat).iter_errors(typed):
        _report_schema_error(collector, cat, error, value_paths)

    locations: dict[str, Location] = {}
    for key, entry in collector.leaves.items():
        locations[key] = collector.where(entry.written, True)
    for key, written in collector.containers.items():
        locations[key] = collector.where(written, True)
    explicit = frozenset(collector.leaves) | frozenset(collector.containers)

    complete: dict[str, Any] = {}
    for spec in cat.specs:
        if spec.key in typed:
            complete[spec.key] = typed[spec.key]
        elif spec.has_default and spec.key not in collector.failed:
            complete[spec.key] = _fresh(spec.default)
    fallback = collector.where((), False)
    # Built once: the rules read it, and so does everything else once the file is loaded.
    # With errors, a setting that failed holds its default (or None); no rule reads it.
    settings_ = SinkSettings.from_canonical(complete, partial=bool(collector.failed))
    collector.diagnostics.extend(
        rules.check(
            settings_,
            explicit=explicit,
            where=lambda key: locations.get(key, fallback),
            skip=frozenset(collector.failed),
        )
    )
    diagnostics = tuple(sorted(collector.diagnostics, key=_position))
    failed = any(d.severity is Severity.ERROR for d in diagnostics)
    return Canonical(
        settings=None if failed else settings_,
        canonical=None if failed else complete,
        explicit=explicit,
        locations=locations,
        diagnostics=diagnostics,
    )


def _report_schema_error(
    collector: _Collector,
    cat: Catalogue,
    error: jsonschema.ValidationError,
    value_paths: Mapping[tuple[str, ...], tuple[str, ...]],
) -> None:
    if error.validator == "required":
        for key in error.validator_value:
            if key not in error.instance and key not in collector.failed:
                collector.failed.add(key)
                collector.error((), False, key, "required setting is missing")
        return
    where = tuple(str(p) for p in error.absolute_path)
    if not where:
        collector.error((), False, None, error.message)
        return
    key = where[0]
    collector.failed.add(key)
    written = value_paths.get(where, value_paths.get((key,), ()))
    shown = key if len(where) == 1 else f"{key}:{where[1]}"
    collector.error(written, True, shown, _schema_message(error, cat.find(key)))


def _fresh(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _position(diagnostic: Diagnostic) -> tuple[int, str, int, int]:
    where = diagnostic.location
    if where is None:
        return (1, "", 0, 0)
    return (0, where.path, where.line, where.column)
