"""RFC 9535 JSONPath filtering against the record a sink sees.

The query runs against one JSON object per event, named like the original
connectors' record so that documented filters work unchanged
(``$[?($.value.vehicle.year==2018)]``)::

    {
      "recordId": "<event id>",
      "position": {"streamId": "<stream>", "logPosition": <commit position>},
      "streamId": "<stream>",
      "streamRevision": <revision in the stream>,
      "logPosition": <commit position>,
      "timestamp": "<creation time, ISO 8601 UTC, ms>",
      "isRedacted": false,
      "isTransformed": false,
      "schemaInfo": {"subject": "<event type>", "type": "json" | "bytes"},
      "headers": {<metadata key>: <string value>, ...},
      "value": <the event data parsed as JSON>
    }

``headers`` holds every key of the event metadata when that is a JSON object
(system ``$`` keys included), non-string values JSON-encoded. An event matches
when the query selects at least one node. Only JSON events are queried: events
whose content type is not JSON, or whose data does not parse, never match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonpath_rfc9535

from engine.errors import PermanentError
from engine.mapping.headers import iso_ms
from engine.model import Record

_NOT_JSON = object()


def compile_query(expression: str) -> jsonpath_rfc9535.JSONPathQuery:
    """The compiled query, or ``PermanentError`` naming the setting and the parser's reason."""
    try:
        return jsonpath_rfc9535.compile(expression)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise PermanentError(
            f"subscription:filter:expression: invalid JSONPath query {expression!r}: {exc}"
        ) from exc


def parse_value(record: Record) -> Any:
    """The event data as JSON, or ``_NOT_JSON`` when it is not a JSON event or does not parse."""
    if not record.is_json:
        return _NOT_JSON
    if not record.value:
        return None
    try:
        return json.loads(record.value)
    except ValueError:  # includes UnicodeDecodeError
        return _NOT_JSON


def is_json_value(value: Any) -> bool:
    return value is not _NOT_JSON


def record_document(record: Record, value: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    """The record object described in the module docstring (a fresh, mutable dict)."""
    return {
        "recordId": record.record_id,
        "position": {"streamId": record.stream_id, "logPosition": record.log_position},
        "streamId": record.stream_id,
        "streamRevision": record.stream_revision,
        "logPosition": record.log_position,
        "timestamp": iso_ms(record.timestamp_ms),
        "isRedacted": False,
        "isTransformed": False,
        "schemaInfo": {"subject": record.schema_subject, "type": record.schema_type},
        "headers": dict(headers),
        "value": value,
    }


class JsonPathFilter:
    """One compiled query; ``matches`` is true when it selects at least one node."""

    __slots__ = ("_query", "expression")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._query = compile_query(expression)

    def matches(self, document: dict[str, Any]) -> bool:
        # finditer stops at the first node: no need to build the whole node list.
        return next(iter(self._query.finditer(document)), None) is not None
