"""Mapping a run of records and producing it in order.

``BatchSender.send`` maps records (one transformer call per run) and hands each
message to the delivery pipeline in read order. It guarantees that ``sent`` counts
the records handed on (messages or skips), even when producing raised part-way, so
the worker knows where to resubscribe from; a failing transform ends the run: the
records before it are produced, then the ``TransformError`` propagates (the sink
FAILS and its checkpoint never passes the event).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.mapping.pipeline import Mapper, TransformError
from engine.model import Message, Record
from engine.runtime.tracker import Position


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
    ) -> None:
        self._mapper = mapper
        self._pipeline = pipeline
        self._stream_sink = stream_sink
        self.sent = 0
        self.last: Position | None = None  # the last record handed on

    def send(self, records: list[Record]) -> None:
        """Map and produce ``records``; ``sent`` says how many were handed on."""
        self.sent = 0
        failed: TransformError | None = None
        try:
            messages: Sequence[Message | None] = self._mapper.map_batch(records)
        except TransformError as exc:
            # The records before the failing one are fine: deliver them, then fail.
            messages, failed = exc.completed, exc
        self._hand_on(records, messages)
        if failed is not None:
            raise failed

    def _hand_on(self, records: Sequence[Record], messages: Sequence[Message | None]) -> None:
        pipeline, stream_sink = self._pipeline, self._stream_sink
        send, skip = pipeline.send, pipeline.skip
        sent = 0
        try:
            for record, message in zip(records, messages, strict=False):
                revision = record.stream_revision if stream_sink else None
                if message is None:
                    skip(record.log_position, revision)
                else:
                    send(message, record.log_position, revision)
                sent += 1
        finally:
            if sent:
                last = records[sent - 1]
                self.last = Position(
                    last.log_position, last.stream_revision if stream_sink else None
                )
                self.sent += sent
