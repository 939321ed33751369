"""``Streams.Read`` of the stand-in: reads and catch-up subscriptions on a stream or ``$all``.

Transport-neutral: :meth:`ReadHandler.open` turns a request into ready-made frames (bytes),
so no transport builds or serialises a message per event. Semantics follow what esdbclient
sends and expects:

- reads: forwards/backwards from start, end, a stream revision or a commit position (a read
  of ``$all`` forwards from position X includes the event at X, backwards from X excludes
  it, as KurrentDB does), at most ``count`` matching events;
  reading a stream that has no events replies ``stream_not_found``;
- subscriptions: a ``confirmation`` first, then the catch-up events, ``checkpoint`` replies
  every ``window * checkpointIntervalMultiplier`` scanned events when a filter is present
  (matching or not, so a rarely-matching filter still moves its checkpoint), ``caught_up``
  once, then live events; a subscription from position X / revision N starts after it;
- ``drop_subscriptions`` ends every open subscription with UNAVAILABLE.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import grpc

from engine.testbed.standin.filters import ReadFilter, compile_filter
from engine.testbed.standin.frames import (
    CAUGHT_UP,
    checkpoint_frame,
    confirmation_frame,
    stream_not_found_frame,
)
from engine.testbed.standin.log import EventLog
from engine.testbed.standin.protos import streams_pb2

_BACKWARDS = streams_pb2.ReadReq.Options.Backwards
# How often an idle live subscription of the grpcio transport looks at its call.
_IDLE_WAKE_S = 0.25
# How many catch-up events pass between two looks at the drop generation.
_DROP_CHECK_EVERY = 1024


class SubscriptionControl:
    """Shared switch the server flips to end every open subscription."""

    def __init__(self) -> None:
        self.generation = 0
        self._lock = threading.Lock()

    def drop_all(self) -> None:
        with self._lock:
            self.generation += 1


class SubscriptionDropped(Exception):
    pass


class ReadHandler:
    def __init__(self, log: EventLog, control: SubscriptionControl) -> None:
        self._log = log
        self._control = control

    def open(self, request: streams_pb2.ReadReq) -> Iterator[bytes | None]:
        """Frames answering ``request``.

        A subscription yields ``None`` when it has sent everything in the log: the transport
        waits for an append (or a drop) and then resumes the iterator, which raises
        :class:`SubscriptionDropped` once ``drop_subscriptions`` has been called.
        """
        options = request.options
        read_filter = compile_filter(options)
        subscribe = options.WhichOneof("count_option") == "subscription"
        on_stream = options.WhichOneof("stream_option") == "stream"
        if not subscribe:
            if on_stream:
                return self._read_stream(options)
            return self._read_all(options, read_filter)
        generation = self._control.generation
        if on_stream:
            return self._subscribe_stream(options, generation)
        return self._subscribe_all(options, read_filter, generation)

    def __call__(
        self, request: streams_pb2.ReadReq, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        """The grpcio transport's handler: blocks its thread while a subscription idles."""
        frames = self.open(request)
        generation = self._control.generation
        # A cancelled call wakes idle subscriptions so their threads return promptly.
        context.add_callback(self._log.wake_readers)
        try:
            for frame in frames:
                if frame is not None:
                    yield frame
                    continue
                seen = len(self._log)
                while len(self._log) <= seen and self._control.generation == generation:
                    if not context.is_active():
                        return
                    self._log.wait_beyond(seen, _IDLE_WAKE_S)
        except SubscriptionDropped:
            context.abort(grpc.StatusCode.UNAVAILABLE, "subscription dropped by the server")

    # -- plain reads -----------------------------------------------------------------------
    def _read_stream(self, options: streams_pb2.ReadReq.Options) -> Iterator[bytes]:
        log = self._log
        name = options.stream.stream_identifier.stream_name.decode("utf8")
        indexes = log.stream_indexes(name)
        if not indexes:
            yield stream_not_found_frame(name)
            return
        last = len(indexes) - 1
        first = log.first_visible_revision(name)
        which = options.stream.WhichOneof("revision_option")
        backwards = options.read_direction == _BACKWARDS
        remaining = options.count
        if backwards:
            top = last if which != "revision" else min(last, options.stream.revision)
            revisions = range(top, first - 1, -1)
        else:
            if which == "end":
                return
            bottom = first if which != "revision" else max(first, options.stream.revision)
            revisions = range(bottom, last + 1)
        frames = log.frames
        for revision in revisions:
            if remaining <= 0:
                return
            remaining -= 1
            yield frames[indexes[revision]]

    def _read_all(
        self, options: streams_pb2.ReadReq.Options, read_filter: ReadFilter | None
    ) -> Iterator[bytes]:
        log = self._log
        which = options.all.WhichOneof("all_option")
        backwards = options.read_direction == _BACKWARDS
        size = len(log)
        if backwards:
            if which == "position":
                # KurrentDB: backwards from X returns the events before X, not X itself.
                top = log.index_at_or_after(options.all.position.commit_position) - 1
            else:
                top = size - 1 if which == "end" else -1
            indexes = range(top, -1, -1)
        else:
            if which == "position":
                bottom = log.index_at_or_after(options.all.position.commit_position)
            else:
                bottom = size if which == "end" else 0
            indexes = range(bottom, size)
        remaining = options.count
        frames = log.frames
        if read_filter is None:
            for index in indexes:
                if remaining <= 0:
                    return
                remaining -= 1
                yield frames[index]
            return
        keys = log.stream_names if read_filter.by_stream else log.types
        matches = read_filter.matches
        for index in indexes:
            if remaining <= 0:
                return
            if matches(keys[index]):
                remaining -= 1
                yield frames[index]

    # -- subscriptions ---------------------------------------------------------------------
    def _subscribe_stream(
        self, options: streams_pb2.ReadReq.Options, generation: int
    ) -> Iterator[bytes | None]:
        log = self._log
        name = options.stream.stream_identifier.stream_name.decode("utf8")
        which = options.stream.WhichOneof("revision_option")
        yield confirmation_frame(str(uuid.uuid4()))
        existing = log.stream_indexes(name)
        if which == "end":
            revision = len(existing) if existing else 0
        elif which == "revision":
            revision = options.stream.revision + 1
        else:
            revision = 0
        revision = max(revision, log.first_visible_revision(name))
        frames = log.frames
        caught_up = False
        while True:
            indexes = log.stream_indexes(name) or []
            while revision < len(indexes):
                yield frames[indexes[revision]]
                revision += 1
                if revision % _DROP_CHECK_EVERY == 0:
                    self._check(generation)
            if not caught_up:
                caught_up = True
                yield CAUGHT_UP
            yield None
            self._check(generation)

    def _subscribe_all(
        self,
        options: streams_pb2.ReadReq.Options,
        read_filter: ReadFilter | None,
        generation: int,
    ) -> Iterator[bytes | None]:
        log = self._log
        which = options.all.WhichOneof("all_option")
        yield confirmation_frame(str(uuid.uuid4()))
        if which == "position":
            index = log.index_after(options.all.position.commit_position)
        else:
            index = len(log) if which == "end" else 0
        frames = log.frames
        positions = log.positions
        caught_up = False
        scanned = 0
        while True:
            end = len(log)
            if read_filter is None:
                while index < end:
                    yield frames[index]
                    index += 1
                    if index % _DROP_CHECK_EVERY == 0:
                        self._check(generation)
            else:
                keys = log.stream_names if read_filter.by_stream else log.types
                matches = read_filter.matches
                interval = read_filter.checkpoint_interval
                while index < end:
                    if matches(keys[index]):
                        yield frames[index]
                    scanned += 1
                    if scanned >= interval:
                        scanned = 0
                        yield checkpoint_frame(positions[index])
                    index += 1
                    if index % _DROP_CHECK_EVERY == 0:
                        self._check(generation)
            if not caught_up:
                caught_up = True
                yield CAUGHT_UP
            yield None
            self._check(generation)

    def _check(self, generation: int) -> None:
        if self._control.generation != generation:
            raise SubscriptionDropped
