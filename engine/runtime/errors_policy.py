"""Mapping a run of records and producing it in order, with the sink's poison-event policy.

A poison event is one that can never be delivered however often it is tried: the
broker refuses its message for good (too large, an invalid record) or the
transformer (or a partition-key regex that runs out of time) fails on it.
``errors:tolerance`` says what happens then (``PoisonPolicy``):

* ``fail`` (the default, the original's behaviour): the sink stops in FAILED and its
  checkpoint never passes the event;
* ``skip``: the event is left out (logged and counted as ``event_skipped``) and the
  checkpoint moves past it;
* ``deadLetter``: the event's original value and headers go to
  ``errors:deadLetterTopic`` with ``sinks-error-*`` headers naming the error, its
  cause, the sink, the position and the topic it was meant for; the checkpoint moves
  past it once the broker confirmed that message. A dead letter the broker refuses
  too stops the sink (never a loop).

Only ``Refused`` (the broker's refusal of one message) is poison; transient errors,
authorisation or a missing topic never are. ``BatchSender.send`` guarantees that ``sent``
counts the records handed on (messages, skips or dead letters), even when producing
raised part-way, so the worker knows where to resubscribe from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from engine.adapters.kafka import Refused
from engine.mapping.headers import metadata_headers
from engine.mapping.pipeline import Mapper, TransformError
from engine.runtime.tracker import Failure, Position
from engine.runtime.transactions import Entry
from engine.runtime.worker_api import Cause, IncidentKind
from engine.specification.errors import EngineError
from engine.specification.model import Message, Record
from engine.specification.settings import ErrorTolerance, SinkSettings

# Headers added to a dead letter (after the original message's own).
ERROR_REASON = "sinks-error-reason"
ERROR_CAUSE = "sinks-error-cause"
ERROR_SINK = "sinks-error-sink"
ERROR_POSITION = "sinks-error-position"
ERROR_TOPIC = "sinks-error-topic"

Report = Callable[[IncidentKind, Cause, str, int], None]


class PoisonPolicy:
    def __init__(self, settings: SinkSettings, sink: str, report: Report) -> None:
        self.tolerance = settings.error_tolerance
        self.topic = settings.dead_letter_topic
        self._sink_topic = settings.topic
        self._sink = sink
        self._report = report
        self.skipped = 0
        self.dead_lettered = 0

    @property
    def failing(self) -> bool:
        return self.tolerance is ErrorTolerance.FAIL

    def tolerates(self, error: EngineError) -> bool:
        """A delivery error this policy deals with: the broker refused one message for good."""
        return not self.failing and isinstance(error, Refused)

    def replace(self, entries: list[Entry], failure: Failure) -> list[Entry]:
        """The window to send again, with the refused message skipped or dead-lettered.

        Raises the failure's error when the refused message was itself a dead letter.
        """
        out: list[Entry] = []
        handled = False
        for message, position, revision in entries:
            if handled or message is None or position != failure.position:
                out.append((message, position, revision))
                continue
            if message.topic == self.topic and any(k == ERROR_SINK for k, _ in message.headers):
                raise failure.error  # the dead-letter topic refused it too
            handled = True
            replacement = self._poisoned(message, Cause.DELIVERY, str(failure.error), position)
            out.append((replacement, position, revision))
        return out

    def record_failed(self, record: Record, error: TransformError) -> Message | None:
        """What replaces an event the transformer failed on (None: nothing, it is skipped)."""
        headers = metadata_headers(record.metadata) if record.metadata else {}
        original = Message(
            self._sink_topic,
            record.stream_id.encode(),
            record.value,
            tuple((k, v.encode()) for k, v in headers.items()),
            record.timestamp_ms,
            record.log_position,
            record.record_id,
        )
        return self._poisoned(original, Cause.TRANSFORMER, str(error), record.log_position)

    def _poisoned(
        self, message: Message, cause: Cause, reason: str, position: int
    ) -> Message | None:
        if self.tolerance is ErrorTolerance.SKIP or self.topic is None:
            self.skipped += 1
            self._report(IncidentKind.SKIPPED, cause, reason, position)
            return None
        self.dead_lettered += 1
        self._report(IncidentKind.DEAD_LETTERED, cause, reason, position)
        extra = (
            (ERROR_REASON, reason.encode()),
            (ERROR_CAUSE, cause.value.encode()),
            (ERROR_SINK, self._sink.encode()),
            (ERROR_POSITION, str(position).encode()),
            (ERROR_TOPIC, message.topic.encode()),
        )
        return message._replace(topic=self.topic, headers=(*message.headers, *extra))


class _Pipeline(Protocol):
    """What the sender uses of ``engine.runtime.delivery.DeliveryPipeline``."""

    def send(self, message: Message, position: int, revision: int | None = None) -> None: ...
    def skip(self, position: int, revision: int | None = None) -> None: ...


class BatchSender:
    def __init__(
        self,
        mapper: Mapper,
        pipeline: _Pipeline,
        stream_sink: bool,
        policy: PoisonPolicy | None = None,
        topics: Callable[[str], None] | None = None,
    ) -> None:
        self._mapper = mapper
        self._pipeline = pipeline
        self._stream_sink = stream_sink
        self._policy = policy
        # topics:create: called with each message's topic before it is produced (the
        # provisioner acts on a topic's first message only).
        self._topics = topics
        self.sent = 0
        self.last: Position | None = None  # the last record handed on

    def send(self, records: list[Record]) -> None:
        """Map and produce ``records``; ``sent`` says how many were handed on."""
        self.sent = 0
        start = 0
        while start < len(records):
            run = records[start:] if start else records
            failed: TransformError | None = None
            try:
                messages: Sequence[Message | None] = self._mapper.map_batch(run)
            except TransformError as exc:
                # The records before the failing one are fine: deliver them first.
                messages, failed = exc.completed, exc
            self._hand_on(run, messages)
            if failed is None:
                return
            policy = self._policy
            if policy is None or policy.failing or len(messages) >= len(run):
                raise failed
            poisoned = run[len(messages)]
            self._hand_on((poisoned,), (policy.record_failed(poisoned, failed),))
            start += len(messages) + 1

    def _hand_on(self, records: Sequence[Record], messages: Sequence[Message | None]) -> None:
        pipeline, stream_sink, topics = self._pipeline, self._stream_sink, self._topics
        send, skip = pipeline.send, pipeline.skip
        sent = 0
        try:
            for record, message in zip(records, messages, strict=False):
                revision = record.stream_revision if stream_sink else None
                if message is None:
                    skip(record.log_position, revision)
                else:
                    if topics is not None:
                        topics(message.topic)
                    send(message, record.log_position, revision)
                sent += 1
        finally:
            if sent:
                last = records[sent - 1]
                self.last = Position(
                    last.log_position, last.stream_revision if stream_sink else None
                )
                self.sent += sent
