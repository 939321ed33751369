"""Kafka headers of an outgoing message, built with as little per-event work as possible.

Order and content of the headers of every message:

1. ``defaultHeaders`` of the sink, in the order written;
2. ``esdb-connector-id`` (sink name), ``esdb-request-id``, ``esdb-request-date``,
   ``esdb-record-id``, ``esdb-record-timestamp``, ``esdb-record-redacted``
   (always ``false``: redacted events are not exposed by the read API),
   ``esdb-record-stream-id``, ``esdb-record-stream-revision``,
   ``esdb-record-log-position``, ``esdb-record-schema-subject`` (the event type),
   ``esdb-record-schema-type`` (``json`` or ``bytes``);
3. ``esdb-record-is-transformed: true`` on transformed messages only;
4. ``esdb-record-headers-<name>`` for each key of the event metadata when the
   metadata is a JSON object; keys starting with ``$`` (system headers) only when
   ``headers:ignoreSystem`` is false. Metadata that is not a JSON object (or not
   JSON) yields no record headers; it is never an error.
5. ``traceparent`` (W3C trace context, ``headers:traceparent``, on by default) when
   the metadata holds ``$traceId`` and ``$spanId`` as hex (the OpenTelemetry
   instrumentation of esdbclient and kurrentdbclient writes ``0x``-prefixed hex; 32-
   and 16-digit hex and dashed forms are read too); ids that are not hex, too long or
   zero give no header. Written whatever ``headers:ignoreSystem`` says.
6. With ``headers:cloudEvents``: ``ce_specversion`` (``1.0``), ``ce_id``, ``ce_source``
   (``headers:cloudEventsSource`` filled for the event), ``ce_type``, ``ce_time`` and
   ``content-type``: the binary mode of the CloudEvents Kafka protocol binding.

Values are UTF-8 bytes; non-string metadata values are JSON-encoded.
Dates are ISO 8601 UTC with milliseconds (``2024-05-01T10:00:00.123Z``);
``esdb-request-date`` is the time the message was built. ``esdb-request-id`` is a
UUID (version 4 layout) made of 80 random bits chosen per ``HeaderBuilder`` and a
48-bit counter: unique per message and far cheaper than a fresh random UUID.

The constant parts (default headers, connector id, redacted flag, encoded names)
are computed once per sink; the date strings are cached per second.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from typing import Any

from engine.specification.model import Record
from engine.specification.topics import TextTemplate

Header = tuple[str, bytes]
RECORD_HEADER_PREFIX = "esdb-record-headers-"
IS_TRANSFORMED: Header = ("esdb-record-is-transformed", b"true")

_second_cache: dict[int, str] = {}
_decoder = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def _decode_json(text: str) -> Any:
    # raw_decode skips the two whitespace scans of decode(); metadata almost always
    # starts with "{". Leading whitespace makes raw_decode fail: decode() then judges.
    try:
        value, end = _decoder.raw_decode(text)
    except ValueError:
        return _decoder.decode(text)
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise ValueError("extra data after the JSON value")
    return value


def iso_ms(ms: int) -> str:
    """``ms`` since the epoch as ISO 8601 UTC with milliseconds."""
    second, milli = divmod(ms, 1000)
    prefix = _second_cache.get(second)
    if prefix is None:
        if len(_second_cache) > 4096:  # bounded: events arrive roughly in time order
            _second_cache.clear()
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache[second] = prefix
    return f"{prefix}.{milli:03d}Z"


_second_bytes: dict[int, bytes] = {}


def iso_ms_bytes(ms: int) -> bytes:
    """``iso_ms(ms)`` as UTF-8 bytes, for header values (no str built per event)."""
    second, milli = divmod(ms, 1000)
    prefix = _second_bytes.get(second)
    if prefix is None:
        if len(_second_bytes) > 4096:
            _second_bytes.clear()
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        _second_bytes[second] = prefix
    return b"%s.%03dZ" % (prefix, milli)


def header_text(value: Any) -> str:
    """A metadata value as header text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def metadata_headers(metadata: bytes) -> dict[str, str]:
    """The event metadata as header texts; empty unless it is a JSON object."""
    if not metadata or metadata == b"{}":
        return {}
    try:
        # The decoder directly: json.loads would first sniff the byte encoding, which
        # costs more than parsing a small object. UnicodeDecodeError is a ValueError.
        parsed = _decode_json(metadata.decode())
    except ValueError:  # not JSON (or not UTF-8): metadata is free-form bytes
        return {}
    if not isinstance(parsed, dict):
        return {}
    # JSON object keys are always strings; most values are too, so test before calling.
    return {k: v if type(v) is str else header_text(v) for k, v in parsed.items()}


class RequestIds:
    """UUID-shaped request ids: random per instance, then a counter."""

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        bits = f"{random.SystemRandom().getrandbits(80):020x}"
        variant = "89ab"[int(bits[15], 16) & 3]
        self._prefix = f"{bits[:8]}-{bits[8:12]}-4{bits[12:15]}-{variant}{bits[16:19]}-".encode()
        self._count = random.SystemRandom().getrandbits(32)

    def next(self) -> bytes:
        self._count = (self._count + 1) & 0xFFFFFFFFFFFF
        return b"%s%012x" % (self._prefix, self._count)


class HeaderBuilder:
    """Builds the header tuple of one message; constant parts are precomputed."""

    __slots__ = (
        "_cloud_source",
        "_ids",
        "_ignore_system",
        "_last_date",
        "_leading",
        "_names",
        "_traceparent",
    )

    def __init__(
        self,
        sink_name: str,
        default_headers: Mapping[str, str],
        *,
        ignore_system: bool,
        traceparent: bool = False,
        cloud_source: TextTemplate | None = None,
    ) -> None:
        self._traceparent = traceparent
        self._cloud_source = cloud_source  # None: no CloudEvents headers
        defaults = tuple((str(k), header_text(v).encode()) for k, v in default_headers.items())
        self._leading: tuple[Header, ...] = (*defaults, ("esdb-connector-id", sink_name.encode()))
        self._ignore_system = ignore_system
        self._ids = RequestIds()
        self._last_date: tuple[int, bytes] = (-1, b"")
        self._names: dict[str, str] = {}  # metadata key -> its header name

    def _request_date(self) -> bytes:
        now_ms = time.time_ns() // 1_000_000
        if self._last_date[0] != now_ms:
            self._last_date = (now_ms, iso_ms_bytes(now_ms))
        return self._last_date[1]

    def build(
        self,
        record: Record,
        record_headers: Mapping[str, str],
        *,
        subject: str | None = None,
        transformed: bool = False,
    ) -> tuple[Header, ...]:
        """Headers for ``record``; ``subject`` overrides the event type (transformers)."""
        headers: list[Header] = [
            *self._leading,
            ("esdb-request-id", self._ids.next()),
            ("esdb-request-date", self._request_date()),
            ("esdb-record-id", record.record_id.encode()),
            ("esdb-record-timestamp", iso_ms_bytes(record.timestamp_ms)),
            ("esdb-record-redacted", b"false"),
            ("esdb-record-stream-id", record.stream_id.encode()),
            ("esdb-record-stream-revision", b"%d" % record.stream_revision),
            ("esdb-record-log-position", b"%d" % record.log_position),
            (
                "esdb-record-schema-subject",
                (record.schema_subject if subject is None else subject).encode(),
            ),
            ("esdb-record-schema-type", b"json" if record.is_json else b"bytes"),
        ]
        if transformed:
            headers.append(IS_TRANSFORMED)
        if record_headers:
            ignore, names = self._ignore_system, self._names
            for name, value in record_headers.items():
                if ignore and name.startswith("$"):
                    continue
                prefixed = names.get(name)
                if prefixed is None:
                    prefixed = names[name] = RECORD_HEADER_PREFIX + name
                    if len(names) > 1024:  # bounded: metadata keys rarely vary
                        names.clear()
                headers.append((prefixed, value.encode()))
            if self._traceparent:
                parent = traceparent_of(record_headers)
                if parent is not None:
                    headers.append(("traceparent", parent))
        if self._cloud_source is not None:
            event_type = record.schema_subject if subject is None else subject
            source = self._cloud_source.text_of(record.stream_id, event_type, record_headers)
            json_value = record.is_json or transformed
            headers += [
                ("ce_specversion", b"1.0"),
                ("ce_id", record.record_id.encode()),
                ("ce_source", source.encode()),
                ("ce_type", event_type.encode()),
                ("ce_time", iso_ms_bytes(record.timestamp_ms)),
                ("content-type", _JSON_TYPE if json_value else _BYTES_TYPE),
            ]
        return tuple(headers)


_JSON_TYPE = b"application/json"
_BYTES_TYPE = b"application/octet-stream"
_HEX = frozenset("0123456789abcdef")


def traceparent_of(metadata: Mapping[str, str]) -> bytes | None:
    """The W3C ``traceparent`` for ``$traceId`` / ``$spanId`` in ``metadata``, or None."""
    trace = _hex_id(metadata.get("$traceId"), 32)
    span = _hex_id(metadata.get("$spanId"), 16)
    if trace is None or span is None:
        return None
    return b"00-" + trace + b"-" + span + b"-01"  # 01: sampled, as the clients read it


def _hex_id(text: str | None, digits: int) -> bytes | None:
    if not text:
        return None
    text = text.strip().lower().removeprefix("0x").replace("-", "")
    if not text or len(text) > digits or not _HEX.issuperset(text) or not text.strip("0"):
        return None
    return text.rjust(digits, "0").encode()
