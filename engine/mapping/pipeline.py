"""``Mapper``: one KurrentDB record → one Kafka message (or None when filtered out).

Guarantees:

* Pure: no I/O, no clock other than ``esdb-request-date`` / ``esdb-request-id``.
* Everything that can be wrong with the settings fails in ``__init__`` with
  ``PermanentError`` (invalid regex, JSONPath query, transformer code).
* ``__call__`` applies only what the server cannot: the JSONPath filter and the
  transformer. ``matches`` applies the whole filter (the server-side part
  emulated by ``ServerFilter``, then JSONPath) for config tests.
* Value: the event data bytes unchanged, unless transformed (then the changed
  ``value`` as compact JSON). Timestamp: the event's creation time (ms). Key: see
  ``engine.mapping.partition_key``. Headers: see ``engine.mapping.headers``.
  Topic: the ``topic`` setting, filled per event when it holds placeholders
  (``engine.specification.topics``; ``{metadata:KEY}`` reads the headers the event's
  metadata gives, as changed by a transformer).
* A transform that fails, an event whose topic cannot be made, or a partition-key
  regex or a JSONPath filter's ``match()``/``search()`` that runs out of time
  (``engine.sandbox.regexes``) raises ``TransformError`` carrying the record's log
  position: the event is never skipped silently. (``matches``, for config tests,
  raises the ``RegexTimeout``.)
* ``map_batch`` gives the same messages as calling the mapper per record, but
  runs a transformer once per batch (crossing into V8 dominates its cost).

The plain path (no JSONPath, no transformer, no metadata) parses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.mapping.filters import ServerFilter, SubscriptionPlan, plan_subscription
from engine.mapping.headers import HeaderBuilder, metadata_headers
from engine.mapping.jsonpath import (
    JsonPathFilter,
    TooDeep,
    is_json_value,
    parse_value,
    record_document,
)
from engine.mapping.partition_key import KeyExtractor
from engine.sandbox.regexes import RegexTimeout
from engine.sandbox.transformer import Transformed, Transformer, TransformFailed
from engine.specification.errors import PermanentError
from engine.specification.model import Message, Record
from engine.specification.settings import SinkSettings
from engine.specification.topics import TopicError, name_problem, parse_text


class TransformError(PermanentError):
    """The transform failed on the record at log ``position``.

    ``completed`` holds the messages (or None for filtered records) of the records
    before it in the same ``map_batch`` call, which are safe to deliver.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int,
        record_id: str = "",
        completed: Sequence[Message | None] = (),
    ) -> None:
        super().__init__(message)
        self.position = position
        self.record_id = record_id
        self.completed = tuple(completed)


class Mapper:
    """Maps records of one sink; build once per sink run, call per record."""

    def __init__(self, sink_name: str, settings: SinkSettings) -> None:
        self.sink_name = sink_name
        self.topic = settings.topic
        # A topic with placeholders is filled per event (engine.specification.topics).
        self._routes = settings.topic_template if settings.topic_template.routed else None
        self.plan: SubscriptionPlan = plan_subscription(settings)
        self._server = ServerFilter(self.plan)
        self._jsonpath = JsonPathFilter(self.plan.jsonpath) if self.plan.jsonpath else None
        self._key = KeyExtractor(settings)
        self._headers = HeaderBuilder(
            sink_name,
            settings.default_headers,
            ignore_system=settings.headers_ignore_system,
            traceparent=settings.traceparent,
            cloud_source=parse_text(settings.cloud_events_source)
            if settings.cloud_events
            else None,
        )
        self._transformer: Transformer | None = None
        if settings.transformer_enabled:
            self._transformer = Transformer(settings.transformer_function)
        self._needs_document = self._jsonpath is not None or self._transformer is not None

    @property
    def key_fallbacks(self) -> int:
        """How many keys fell back to the stream id (regex or headers did not yield one)."""
        return self._key.fallbacks

    def close(self) -> None:
        if self._transformer is not None:
            self._transformer.close()

    def matches(self, record: Record) -> bool:
        """The whole filter: server-side part (emulated) and JSONPath."""
        if not self._server.matches(record.stream_id, record.schema_subject):
            return False
        if self._jsonpath is None:
            return True
        try:
            value = parse_value(record)
            if not is_json_value(value):
                return False
            headers = metadata_headers(record.metadata)
            return self._jsonpath.matches(record_document(record, value, headers))
        except TooDeep as exc:
            raise self._failed(record, str(exc)) from exc

    def __call__(self, record: Record) -> Message | None:
        if not self._needs_document:
            return self._plain(record)
        return self.map_batch((record,))[0]

    def _plain(self, record: Record) -> Message:
        headers = metadata_headers(record.metadata) if record.metadata else {}
        return Message(
            self._topic_of(record, headers),
            self._key_of(record, headers),
            record.value,
            self._headers.build(record, headers),
            record.timestamp_ms,
            record.log_position,
            record.record_id,
        )

    def _topic_of(self, record: Record, headers: Mapping[str, str]) -> str:
        if self._routes is None:
            return self.topic
        try:
            return self._routes.topic_of(record.stream_id, record.schema_subject, headers)
        except TopicError as exc:  # the event's poison: errors:tolerance decides
            raise self._failed(record, str(exc)) from exc

    def _key_of(self, record: Record, headers: dict[str, str]) -> bytes | None:
        try:
            return self._key(record.stream_id, headers)
        except RegexTimeout as exc:
            raise self._failed(record, str(exc)) from exc

    def _failed(self, record: Record, reason: str) -> TransformError:
        return TransformError(
            f"sink {self.sink_name!r}: {reason} (event {record.record_id} at "
            f"position {record.log_position} in {record.stream_id!r})",
            position=record.log_position,
            record_id=record.record_id,
        )

    def map_batch(self, records: Sequence[Record]) -> list[Message | None]:
        """Messages for ``records`` in order (None where the JSONPath filter drops one)."""
        if not self._needs_document:
            plain: list[Message | None] = []
            try:
                for record in records:
                    plain.append(self._plain(record))
            except TransformError as exc:
                exc.completed = tuple(plain)
                raise
            return plain
        out: list[Message | None] = [None] * len(records)
        try:
            self._map_documents(records, out)
        except TransformError as exc:
            if not exc.completed:  # a key failure: what came before it is complete
                failed = next(i for i, r in enumerate(records) if r.log_position == exc.position)
                exc.completed = tuple(out[:failed])
            raise
        return out

    def _map_documents(self, records: Sequence[Record], out: list[Message | None]) -> None:
        pending: list[tuple[int, Record, dict[str, str]]] = []
        documents = []
        failed_at: tuple[int, TransformError] | None = None
        for index, record in enumerate(records):
            try:
                value = parse_value(record)
            except TooDeep as exc:
                failed_at = (index, self._failed(record, str(exc)))
                break
            if not is_json_value(value):
                # Non-JSON events never match a JSONPath filter and are not transformed.
                if self._jsonpath is None:
                    out[index] = self._plain(record)
                continue
            headers = metadata_headers(record.metadata) if record.metadata else {}
            document = record_document(record, value, headers)
            if self._jsonpath is not None:
                try:
                    if not self._jsonpath.matches(document):
                        continue
                # a match()/search() of the filter ran too long, or it went too deep
                except (RegexTimeout, TooDeep) as exc:
                    failed_at = (index, self._failed(record, str(exc)))
                    break
            if self._transformer is None:
                out[index] = self._message(record, headers, record.value)
                continue
            pending.append((index, record, headers))
            documents.append(document)
        if self._transformer is not None and documents:
            # The events before the one that failed are mapped in full first, so the
            # error's ``completed`` holds their messages.
            self._transform(out, pending, documents)
        if failed_at is not None:
            index, error = failed_at
            error.completed = tuple(out[:index])
            raise error

    def _transform(
        self,
        out: list[Message | None],
        pending: list[tuple[int, Record, dict[str, str]]],
        documents: list[dict[str, object]],
    ) -> None:
        assert self._transformer is not None
        try:
            results = self._transformer.transform_many(documents)
        except TransformFailed as failed:
            for (index, record, _), done in zip(pending, failed.done, strict=False):
                out[index] = self._transformed(record, done)
            index, record, _ = pending[failed.index]
            raise TransformError(
                f"sink {self.sink_name!r}: {failed.reason} (event {record.record_id} at "
                f"position {record.log_position} in {record.stream_id!r})",
                position=record.log_position,
                record_id=record.record_id,
                completed=out[:index],
            ) from failed
        for (index, record, _), result in zip(pending, results, strict=True):
            out[index] = self._transformed(record, result)

    def _transformed(self, record: Record, result: Transformed) -> Message:
        if result.topic is not None:  # the transform chose the topic: it wins
            problem = name_problem(result.topic)
            if problem is not None:
                raise self._failed(
                    record, f"transform set record.topic {result.topic!r}: {problem}"
                )
        message = self._message(
            record,
            result.headers,
            result.value,
            subject=result.subject,
            transformed=True,
            topic=result.topic,
        )
        if result.key_set:  # the transform chose the key (null: none)
            message = message._replace(key=result.key)
        return message

    def _message(
        self,
        record: Record,
        headers: dict[str, str],
        value: bytes,
        *,
        subject: str | None = None,
        transformed: bool = False,
        topic: str | None = None,
    ) -> Message:
        return Message(
            # ``topic``: set by the transform; the sink's own is then not made at all.
            topic if topic is not None else self._topic_of(record, headers),
            self._key_of(record, headers),
            value,
            self._headers.build(record, headers, subject=subject, transformed=transformed),
            record.timestamp_ms,
            record.log_position,
            record.record_id,
            transformed,
        )
