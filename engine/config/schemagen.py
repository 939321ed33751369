"""Settings tables → JSON Schema (draft 2020-12).

Two schemas come from the same ``Catalogue``:

* ``canonical_settings_schema``: the strict, flat, typed form the canonicaliser
  validates after normalising: canonical key spellings, canonical enum spellings,
  real integers and booleans, ``additionalProperties: false``.
* ``sink_document_schema``: what an editor checks a sink file against (via
  ``# yaml-language-server: $schema=...``): a whole sink document (its top-level keys
  as ``engine.config.document`` describes them) whose settings may be written flat,
  nested or mixed, with enum values in any letter case and numbers or booleans as
  strings, as the engine accepts them. Key spellings are the canonical ones here: the engine
  also accepts other letter cases, editors are told the canonical one. The strict
  schema is embedded under ``$defs/canonicalSettings``.

``render_schema`` is deterministic, so a committed copy can be checked for drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.config.document import TOP_LEVEL_KEYS
from engine.specification.tables import (
    INT32_MAX,
    INT32_MIN,
    TABLES_DIR,
    TIMESPAN_PATTERN,
    Catalogue,
    SettingSpec,
    SettingType,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE_NAME = "sink.schema.json"
DEFAULT_SCHEMA_PATH = TABLES_DIR / SCHEMA_FILE_NAME

INTEGER_TEXT_PATTERN = r"^\s*[+-]?\d+\s*$"
_TIMESPAN_TEXT = "a TimeSpan (hh:mm:ss)"


# ECMA-262's syntax characters: the only ones a unicode-mode regex (what JSON Schema
# tools compile patterns as) may escape. ``re.escape`` also escapes '-', ' ', '#', ...,
# which such tools refuse ("\-" is an invalid identity escape there).
_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")


def ecma_escape(text: str) -> str:
    """``text`` as a literal in a regex valid in both ECMA-262 (unicode mode) and Python."""
    return "".join("\\" + c if c in _SYNTAX_CHARACTERS else c for c in text)


def ci_pattern(word: str) -> str:
    """A regex matching ``word`` in any letter case (ECMA-262 has no inline ``(?i)``)."""
    out = []
    for char in word:
        if char.isalpha() and char.lower() != char.upper():
            out.append(f"[{char.upper()}{char.lower()}]")
        else:
            out.append(ecma_escape(char))
    return "".join(out)


def _any_case_of(values: tuple[str, ...]) -> str:
    return r"^\s*(?:" + "|".join(ci_pattern(v) for v in values) + r")\s*$"


def _bounds(spec: SettingSpec) -> dict[str, int]:
    return {
        "minimum": INT32_MIN if spec.minimum is None else spec.minimum,
        "maximum": INT32_MAX if spec.maximum is None else spec.maximum,
    }


def _annotate(spec: SettingSpec, body: dict[str, Any]) -> dict[str, Any]:
    annotated: dict[str, Any] = {"description": spec.description}
    if spec.has_default:
        annotated["default"] = spec.default
    annotated.update(body)
    return annotated


def canonical_leaf(spec: SettingSpec) -> dict[str, Any]:
    """Schema of one setting's value in canonical form."""
    kind = spec.type
    body: dict[str, Any]
    if kind is SettingType.STRING:
        body = {"type": "string"}
        if spec.format is not None:
            body["pattern"] = spec.format.pattern
    elif kind is SettingType.INT:
        body = {"type": "integer", **_bounds(spec)}
    elif kind is SettingType.BOOLEAN:
        body = {"type": "boolean"}
    elif kind is SettingType.DICT:
        body = {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {"type": "string"},
        }
    elif kind is SettingType.TIMESPAN:
        body = {"type": "string", "pattern": TIMESPAN_PATTERN}
    else:
        body = {"type": "string", "enum": list(spec.accepted)}
    return _annotate(spec, body)


def _editor_leaf(spec: SettingSpec) -> dict[str, Any]:
    """Schema of one setting's value as a person may write it."""
    kind = spec.type
    if kind is SettingType.INT:
        body: dict[str, Any] = {
            "anyOf": [
                {"type": "integer", **_bounds(spec)},
                {"type": "string", "pattern": INTEGER_TEXT_PATTERN},
            ]
        }
    elif kind is SettingType.BOOLEAN:
        body = {
            "anyOf": [
                {"type": "boolean"},
                {"type": "string", "pattern": _any_case_of(("true", "false"))},
            ]
        }
    elif spec.accepted:  # enums and fixed strings: canonical spellings offered first
        body = {
            "anyOf": [
                {"enum": list(spec.accepted)},
                {"type": "string", "pattern": _any_case_of(spec.accepted)},
            ]
        }
    else:
        return canonical_leaf(spec)
    return _annotate(spec, body)


def canonical_settings_schema(catalogue: Catalogue) -> dict[str, Any]:
    """The strict schema of canonical settings (flat keys, typed values)."""
    return {
        "type": "object",
        "properties": {spec.key: canonical_leaf(spec) for spec in catalogue.specs},
        "required": [spec.key for spec in catalogue.specs if spec.required],
        "additionalProperties": False,
    }


def _setting_ref(spec: SettingSpec) -> dict[str, str]:
    return {"$ref": "#/$defs/setting-" + "-".join(spec.parts)}


def _group_schema(
    catalogue: Catalogue, prefix: tuple[str, ...], defs: dict[str, Any]
) -> dict[str, Any]:
    """Settings under ``prefix``, each reachable flat from here or through nested groups."""
    properties: dict[str, Any] = {}
    patterns: dict[str, Any] = {}
    for spec in catalogue.specs:
        if spec.parts[: len(prefix)] != prefix or len(spec.parts) == len(prefix):
            continue
        rest = spec.parts[len(prefix) :]
        properties[":".join(rest)] = _setting_ref(spec)
        if spec.type is SettingType.DICT:  # one flat key per entry: defaultHeaders:<Name>
            patterns["^" + ecma_escape(":".join(rest)) + ":.+$"] = {"type": "string"}
        if len(rest) > 1 and rest[0] not in properties:
            group = prefix + rest[:1]
            name = "group-" + "-".join(group)
            properties[rest[0]] = {"$ref": f"#/$defs/{name}"}
            defs[name] = _group_schema(catalogue, group, defs)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if patterns:
        schema["patternProperties"] = patterns
    schema["additionalProperties"] = False
    return schema


def sink_document_schema(catalogue: Catalogue) -> dict[str, Any]:
    """The schema of a whole sink document, for editors and for the committed file."""
    defs: dict[str, Any] = {}
    for spec in catalogue.specs:
        defs["setting-" + "-".join(spec.parts)] = _editor_leaf(spec)
    settings = _group_schema(catalogue, (), defs)
    # Only top-level keys can be required here: a nested key has several spellings.
    required = [s.key for s in catalogue.specs if s.required and len(s.parts) == 1]
    settings["required"] = required
    settings["description"] = (
        "Sink settings. Keys may be flat ('authentication:username'), nested "
        "('authentication' then 'username') or mixed."
    )
    ordered_defs: dict[str, Any] = {"settings": settings}
    ordered_defs.update(sorted(defs.items()))
    ordered_defs["canonicalSettings"] = canonical_settings_schema(catalogue)
    return {
        "$schema": DIALECT,
        "$comment": "Generated from the settings tables in schema/*.md by 'sinks schema'. "
        "Do not edit by hand: edit the tables and run 'sinks schema' again.",
        "title": "Kafka sink definition",
        "description": "One sink: a KurrentDB subscription whose records are produced to a "
        "Kafka topic.",
        "type": "object",
        "properties": {key.name: dict(key.schema) for key in TOP_LEVEL_KEYS},
        "required": [key.name for key in TOP_LEVEL_KEYS if key.required],
        "additionalProperties": False,
        "$defs": ordered_defs,
    }


def render_schema(catalogue: Catalogue) -> str:
    """The committed file's exact text."""
    return json.dumps(sink_document_schema(catalogue), indent=2, ensure_ascii=False) + "\n"


def write_schema(catalogue: Catalogue, path: Path = DEFAULT_SCHEMA_PATH) -> str:
    text = render_schema(catalogue)
    path.write_text(text, encoding="utf-8")
    return text
