"""The top-level keys of a sink document, each described once.

Guarantees:

* ``TOP_LEVEL_KEYS`` lists every key a sink document may have, in the order the
  generated schema shows them. The schema (``engine.config.schemagen``) takes each
  key's JSON Schema and the required ones from here; the loader
  (``engine.config.sinkfile``) takes the key names and the value of an absent key.
* A key without a ``default`` must be written; the loader reports it missing.
  ``settings`` is required too, so editors flag its absence at once, yet the loader
  reads a document without it as empty settings: its error then names the settings
  that are missing (``topic``), which says more.
* ``empty_is_default``: a key written with nothing after it (YAML null) reads as its
  default. ``enabled`` does not: an empty ``enabled:`` is more likely a slip than a
  wish to run the sink.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from engine.specification.constants import SINK_NAME_PATTERN


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class TopLevelKey(NamedTuple):
    name: str
    schema: Mapping[str, Any]  # JSON Schema of the value, its description included
    required: bool
    default: Any = MISSING  # what the loader reads when the key is absent
    empty_is_default: bool = False


TOP_LEVEL_KEYS = (
    TopLevelKey(
        "name",
        {
            "type": "string",
            "pattern": SINK_NAME_PATTERN,
            "description": "Unique name of the sink; also names its checkpoint stream.",
        },
        required=True,
    ),
    TopLevelKey(
        "description",
        {"type": "string", "description": "Free text for people."},
        required=False,
        default="",
        empty_is_default=True,
    ),
    TopLevelKey(
        "enabled",
        {
            "type": "boolean",
            "default": True,
            "description": "A disabled sink is validated but not run.",
        },
        required=False,
        default=True,
    ),
    TopLevelKey(
        "labels",
        {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Free-form string labels for selecting and grouping sinks.",
        },
        required=False,
        default=MappingProxyType({}),
        empty_is_default=True,
    ),
    # The settings' own schema is generated from the tables (``$defs/settings``).
    TopLevelKey(
        "settings",
        {"$ref": "#/$defs/settings"},
        required=True,
        default=MappingProxyType({}),
        empty_is_default=True,
    ),
)
KEY_NAMES = tuple(key.name for key in TOP_LEVEL_KEYS)
