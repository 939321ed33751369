"""Reading config test files (``<name>.test.yaml`` beside ``<name>.yaml``) into cases.

File format::

    sink: orders                # optional: which sink; default: the only sink of the
                                # sibling file <name>.yaml / .yml / .yaml.j2 / .yml.j2
    cases:
      - name: eu order          # required, unique in the file
        sink: orders            # optional, overrides the file's sink
        event:
          stream: order-eu-1    # required
          type: OrderPlaced     # required (the schema subject)
          data: {region: eu}    # a YAML value sent as JSON; or
          # data_text: "raw"    # UTF-8 text; or data_base64: "AAEC" (bytes)
          content_type: json    # json | bytes; default bytes for data_base64, else json
          metadata: {region: eu}  # a mapping sent as JSON metadata
          id, revision, position, timestamp (ms or ISO 8601): optional
        expect:
          topic: orders
          key: eu               # null: no key
          headers: {esdb-record-headers-region: eu}   # null value: header absent
          value: {...}          # the whole value (JSON-equal; text when not JSON)
          value_contains: {...} # a JSON subset: objects by key, lists element-wise
          # or filtered: true   # the sink must not produce this event
          # or error: "text"    # mapping must fail with a message containing text

Every problem in a file is a ``Diagnostic`` with the line and column of what is
wrong; a case with problems is reported and counted as failed, not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config.yamlmarks import MarkedDocument, PathKey
from engine.specification.model import Diagnostic, Location, Record

CASE_KEYS = ("name", "sink", "event", "expect")
EVENT_KEYS = (
    "stream",
    "type",
    "data",
    "data_text",
    "data_base64",
    "content_type",
    "metadata",
    "id",
    "revision",
    "position",
    "timestamp",
)
EXPECT_KEYS = ("topic", "key", "headers", "value", "value_contains", "filtered", "error")
DEFAULT_TIMESTAMP_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@dataclass(frozen=True)
class Case:
    """One sample event and what the sink must make of it."""

    name: str
    index: int
    sink: str | None
    record: Record
    expect: Mapping[str, Any]
    at: PathKey  # path of the case in the document, for locations
    document: MarkedDocument = field(repr=False, compare=False)

    def locate(self, *path: str | int) -> Location | None:
        return self.document.locate((*self.at, *path))


@dataclass(frozen=True)
class TestFile:
    path: str
    sink: str | None
    cases: tuple[Case, ...]
    problems: tuple[Diagnostic, ...]  # file-level and per-case reading problems
    broken_cases: tuple[str, ...] = ()  # names (or #n) of cases that could not be read


class _Problems(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def read_test_document(doc: MarkedDocument, path: str) -> TestFile:
    top = doc.value
    if not isinstance(top, dict):
        return TestFile(
            path, None, (), (Diagnostic(doc.start, "a config test file must be a mapping"),)
        )
    problems = _unknown(doc, (), top, ("sink", "cases"))
    sink = top.get("sink")
    if sink is not None and not isinstance(sink, str):
        problems.append(Diagnostic(doc.locate(("sink",)), "must be a sink name", key="sink"))
        sink = None
    raw_cases = top.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        problems.append(
            Diagnostic(doc.locate(("cases",)), "must be a non-empty list of cases", key="cases")
        )
        return TestFile(path, sink, (), tuple(problems), ("#1",) if raw_cases else ())
    cases: list[Case] = []
    broken: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases):
        at: PathKey = ("cases", index)
        label = raw.get("name") if isinstance(raw, dict) else None
        label = label if isinstance(label, str) and label else f"#{index + 1}"
        try:
            case = _case(doc, at, index, raw)
        except _Problems as bad:
            problems.extend(bad.diagnostics)
            broken.append(label)
            continue
        if case.name in seen:
            problems.append(
                Diagnostic(
                    case.locate("name"),
                    f"duplicate case name (first used by case #{seen[case.name] + 1})",
                    key=f"case '{case.name}'",
                )
            )
            broken.append(case.name)
            continue
        seen[case.name] = index
        cases.append(case)
    return TestFile(path, sink, tuple(cases), tuple(problems), tuple(broken))


def _unknown(
    doc: MarkedDocument,
    at: PathKey,
    value: Mapping[str, Any],
    known: tuple[str, ...],
    key: str | None = None,
) -> list[Diagnostic]:
    return [
        Diagnostic(
            doc.locate((*at, name), value=False),
            f"unknown key '{name}' (expected one of {', '.join(known)})",
            key=key,
        )
        for name in value
        if name not in known
    ]


def _case(doc: MarkedDocument, at: PathKey, index: int, raw: Any) -> Case:
    if not isinstance(raw, dict):
        raise _Problems([Diagnostic(doc.locate(at), "a case must be a mapping")])
    name = raw.get("name")
    label = f"case '{name}'" if isinstance(name, str) and name else f"case #{index + 1}"
    problems = _unknown(doc, at, raw, CASE_KEYS, label)
    if not isinstance(name, str) or not name:
        problems.append(Diagnostic(doc.locate((*at, "name")), "needs a name", key=label))
    sink = raw.get("sink")
    if sink is not None and not isinstance(sink, str):
        problems.append(Diagnostic(doc.locate((*at, "sink")), "must be a sink name", key=label))
    event, expect = raw.get("event"), raw.get("expect")
    if not isinstance(event, dict):
        problems.append(Diagnostic(doc.locate((*at, "event")), "needs an event mapping", key=label))
    if not isinstance(expect, dict) or not expect:
        problems.append(
            Diagnostic(doc.locate((*at, "expect")), "needs an expect mapping", key=label)
        )
    if problems:
        raise _Problems(problems)
    assert isinstance(event, dict) and isinstance(expect, dict) and isinstance(name, str)
    problems += _unknown(doc, (*at, "event"), event, EVENT_KEYS, label)
    problems += _unknown(doc, (*at, "expect"), expect, EXPECT_KEYS, label)
    exclusive = [k for k in ("filtered", "error") if k in expect]
    if exclusive and len(expect) > 1:
        problems.append(
            Diagnostic(
                doc.locate((*at, "expect", exclusive[0]), value=False),
                f"'{exclusive[0]}' cannot be combined with other expectations",
                key=label,
            )
        )
    if "filtered" in expect and expect["filtered"] is not True:
        problems.append(
            Diagnostic(doc.locate((*at, "expect", "filtered")), "must be true", key=label)
        )
    if "headers" in expect and not isinstance(expect["headers"], dict):
        problems.append(
            Diagnostic(doc.locate((*at, "expect", "headers")), "must be a mapping", key=label)
        )
    record = _record(doc, (*at, "event"), index, event, label, problems)
    if problems or record is None:
        raise _Problems(problems)
    return Case(name, index, sink, record, expect, at, doc)


def _record(
    doc: MarkedDocument,
    at: PathKey,
    index: int,
    event: Mapping[str, Any],
    label: str,
    problems: list[Diagnostic],
) -> Record | None:
    def bad(key: str, message: str) -> None:
        problems.append(Diagnostic(doc.locate((*at, key)), message, key=label))

    for key in ("stream", "type"):
        if not isinstance(event.get(key), str) or not event.get(key):
            bad(key, f"event needs a '{key}' string")
    given = [k for k in ("data", "data_text", "data_base64") if k in event]
    if len(given) > 1:
        bad(given[1], f"give only one of data, data_text, data_base64 (also has '{given[0]}')")
    data = b""
    if "data" in event:
        data = json.dumps(event["data"], separators=(",", ":"), ensure_ascii=False).encode()
    elif "data_text" in event:
        if not isinstance(event["data_text"], str):
            bad("data_text", "must be a string")
        else:
            data = event["data_text"].encode()
    elif "data_base64" in event:
        try:
            data = base64.b64decode(str(event["data_base64"]), validate=True)
        except (binascii.Error, ValueError):
            bad("data_base64", "is not valid base64")
    content_type = event.get("content_type", "bytes" if "data_base64" in event else "json")
    if content_type not in ("json", "bytes"):
        bad("content_type", "must be 'json' or 'bytes'")
    metadata = b""
    if "metadata" in event:
        if not isinstance(event["metadata"], dict):
            bad("metadata", "must be a mapping")
        else:
            metadata = json.dumps(event["metadata"], separators=(",", ":")).encode()
    numbers = {}
    for key, default in (("revision", 0), ("position", 1000 * (index + 1))):
        value = event.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            bad(key, "must be a non-negative integer")
        numbers[key] = value
    timestamp = _timestamp(event.get("timestamp", DEFAULT_TIMESTAMP_MS))
    if timestamp is None:
        bad("timestamp", "must be milliseconds since 1970 or an ISO 8601 date with a zone")
    record_id = event.get("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"case:{index}")))
    if problems:
        return None
    return Record(
        record_id=str(record_id),
        stream_id=event["stream"],
        stream_revision=numbers["revision"],
        log_position=numbers["position"],
        timestamp_ms=timestamp or 0,
        schema_subject=event["type"],
        is_json=content_type == "json",
        value=data,
        metadata=metadata,
    )


def _timestamp(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return int(parsed.timestamp() * 1000)
    return None
