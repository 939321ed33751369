"""Typing one written setting value the way the original's settings API reads it.

The original takes every setting as a string, so ``"true"`` and ``"6"`` are as good
as ``true`` and ``6``. Here, in addition, YAML's own booleans and integers are
taken as they are. Guarantees:

* ``coerce`` returns the canonical typed value or a message saying what was
  expected and what was found (``expected a boolean (true/false), got 'yes please'``),
  never both and never an exception.
* Strings are never guessed from other types: an unquoted ``2024`` or ``yes`` in a
  string setting is an error with a hint to quote it, because YAML may already have
  changed what was written (``0123``, ``yes``, ``1:30:00``).
* Enum values and fixed strings come back in their canonical spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.config.suggest import did_you_mean
from engine.specification.tables import SettingSpec, SettingType
from engine.specification.timespan import parse_timespan

_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_QUOTE_HINT = " (quote it to keep it as text)"

Coerced = tuple[Any, str | None]


def describe(value: Any) -> str:
    """A value as messages show it: strings quoted, YAML spellings for the rest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def coerce_text(value: Any) -> Coerced:
    """A string setting (or a string entry of a mapping setting)."""
    if isinstance(value, str):
        return value, None
    hint = _QUOTE_HINT if isinstance(value, int | float) else ""
    if isinstance(value, Mapping) and len(value) == 1 and None in value.values():
        # `topic: {category}` unquoted: YAML reads a flow mapping {"category": null}.
        [name] = value
        hint = f' (YAML reads an unquoted {{{name}}} as a mapping: quote it, "{{{name}}}")'
    return None, f"expected a string, got {describe(value)}{hint}"


def _coerce_int(value: Any) -> Coerced:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value), None
    return None, f"expected an integer, got {describe(value)}"


def _coerce_bool(value: Any) -> Coerced:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str):
        flag = {"true": True, "false": False}.get(value.strip().lower())
        if flag is not None:
            return flag, None
    return None, f"expected a boolean (true/false), got {describe(value)}"


def normalise_timespan(text: str) -> str | None:
    """``[d.]hh:mm:ss[.fffffff]`` with two-digit fields, or None when not a TimeSpan."""
    parsed = parse_timespan(text)
    return parsed.canonical() if parsed is not None else None


def _coerce_timespan(value: Any) -> Coerced:
    if isinstance(value, str):
        canonical = normalise_timespan(value)
        if canonical is not None:
            return canonical, None
        return None, f"expected a TimeSpan (hh:mm:ss), got {describe(value)}"
    message = f"expected a TimeSpan (hh:mm:ss), got {describe(value)}"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 86400:
        # YAML 1.1 reads an unquoted 1:30:00 as the base-60 number 5400.
        clock = f"{value // 3600:02d}:{value % 3600 // 60:02d}:{value % 60:02d}"
        message += f" (an unquoted h:mm:ss is a base-60 number in YAML: write '{clock}')"
    return None, message


def _coerce_choice(spec: SettingSpec, value: Any) -> Coerced:
    options = ", ".join(spec.accepted)
    if not isinstance(value, str):
        return None, f"expected one of {options}, got {describe(value)}"
    wanted = value.strip().lower()
    for accepted in spec.accepted:
        if accepted.lower() == wanted:
            return accepted, None
    if spec.type is SettingType.STRING:  # a fixed string: the rules say why it is wrong
        return value, None
    return None, f"{describe(value)} is not one of {options}{did_you_mean(value, spec.accepted)}"


def coerce(spec: SettingSpec, value: Any) -> Coerced:
    """``(typed value, None)`` or ``(None, message)`` for one scalar setting."""
    kind = spec.type
    if kind is SettingType.INT:
        return _coerce_int(value)
    if kind is SettingType.BOOLEAN:
        return _coerce_bool(value)
    if kind is SettingType.TIMESPAN:
        return _coerce_timespan(value)
    if kind is SettingType.ENUM:
        return _coerce_choice(spec, value)
    if kind is SettingType.DICT:  # reached only through the collector's own dict handling
        return None, f"expected a mapping of names to strings, got {describe(value)}"
    text, problem = coerce_text(value)
    if problem is None and spec.accepted:
        return _coerce_choice(spec, text)
    return text, problem
