"""One running sink: KurrentDB subscription → Mapper → Kafka, in order.

Guarantees:

* ``start()`` builds the Mapper (and the subscription plan, once) and the producer
  first, so a sink that cannot start raises ``PermanentError`` synchronously; then a
  worker thread runs the sink and a reader thread (``engine.runtime.reader``, which
  says why two) drains the subscription.
* The checkpoint only ever holds a position below which every event was confirmed
  by the broker (with transactions: committed); it is committed per ``autocommit``
  and once more on a graceful ``stop()``. Where it lives and which pipeline sends
  (at least once, cluster mode, exactly once): ``engine.runtime.assembly``.
* When KurrentDB goes away the sink is BACKOFF: it lets in-flight messages settle,
  then resubscribes after the last record read (now delivered), with a growing
  delay; with transactions, after the last commit.
* Transient delivery failures are retried per the ``resilience`` settings by
  re-producing everything from the first unconfirmed record; any other failure
  (or a transformer error) ends in FAILED with the reason and the position, the
  checkpoint never passing the failed event, unless ``errors:tolerance`` skips or
  dead-letters that poison event (``engine.runtime.errors_policy``).
* ``status().caught_up`` is true while the subscription is live (the server said
  it caught up) and nothing read is waiting or in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from engine.adapters.kafka import TopicProvisioner
from engine.adapters.kurrentdb import CAUGHT_UP, KurrentClient, PositionMarker
from engine.mapping.pipeline import Mapper
from engine.runtime.assembly import REAL_ADAPTERS, Adapters, delivery_for
from engine.runtime.checkpoints import CommitPolicy, Committer, StartPoint
from engine.runtime.delivery_api import Delivery
from engine.runtime.errors_policy import BatchSender, PoisonPolicy
from engine.runtime.health import SinkHealth, cause_of
from engine.runtime.reader import END, SubscriptionReader
from engine.runtime.resume import ReadStart
from engine.runtime.tracker import Position
from engine.runtime.worker_api import (
    Cause,
    Connections,
    IncidentKind,
    Reporter,
    SinkState,
    WorkerListener,
    WorkerStatus,
    silent_listener,
)
from engine.specification.constants import IN_FLIGHT_CAPACITY, SHUTDOWN_TIMEOUT_S
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.model import Record, SinkDefinition

_REPORT_EVERY = 1024  # records between two listener reports while busy
_MAX_BACKOFF_S = 5.0
_STEADY_S = 10.0
_T = TypeVar("_T")
_BUSY_WAIT_S = 0.005  # nap between looks at the reader while deliveries are in flight
_IDLE_WAIT_S = 5.0  # longest nap with nothing in flight (a stop or a record wakes it)
_MAP_BATCH = 256  # records mapped together (one transformer call per batch)


class _Stopped(Exception):
    """Internal: a stop was requested while waiting."""


class SinkWorker:
    def __init__(
        self,
        definition: SinkDefinition,
        connections: Connections,
        listener: WorkerListener | None = None,
        *,
        capacity: int = IN_FLIGHT_CAPACITY,
        producer_overrides: Mapping[str, Any] | None = None,
        adapters: Adapters = REAL_ADAPTERS,
    ) -> None:
        """``capacity`` bounds records in flight; ``producer_overrides``: librdkafka keys
        laid over the settings' mapping (engine tuning such as ``message.timeout.ms``);
        ``adapters``: how to reach KurrentDB and Kafka."""
        self._adapters = adapters
        self.definition = definition
        self._producer_overrides = dict(producer_overrides or {})
        self.name = definition.name
        self._connections = connections
        self._listener: WorkerListener = listener or silent_listener()
        self._capacity = capacity
        self._state = SinkState.STOPPED
        self._reason: str | None = None
        self._health = SinkHealth(self.name, self._listener)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: SubscriptionReader | None = None
        self._pipeline: Delivery | None = None
        self._committer: Committer | None = None
        self.read = 0
        self._reporter = Reporter(self.name, self._listener)
        self._read_at: Position | None = None  # last record/marker taken from the reader
        self._skip_until: int | None = None
        self._retired = 0
        self._live = False  # the current subscription reported caught-up
        self._idle = False  # the worker's last look at the reader found nothing

    def start(self) -> None:
        settings = self.definition.settings
        self._initial_position = settings.initial_position
        self._mapper = Mapper(self.name, settings)
        self._plan = self._mapper.plan
        poison = PoisonPolicy(settings, self.name, self._health.incident)  # errors:tolerance
        self._client = self._adapters.kurrentdb(self._connections.kurrentdb_url)  # URL check
        self._pipeline, store = delivery_for(
            self.name,
            settings,
            self._connections,
            self._client,
            capacity=self._capacity,
            producer_extra=self._producer_overrides,
            poison=poison,
            should_stop=self._stop.is_set,
            new_producer=self._adapters.producer,
        )
        stream_sink = self._plan.stream_name is not None
        self._topics: TopicProvisioner | None = None
        if settings.topics_create:
            self._topics = self._adapters.topics(settings, self._topic_incident)
        ensure = self._topics.ensure if self._topics is not None else None
        self._sender = BatchSender(self._mapper, self._pipeline, stream_sink, poison, ensure)
        self._policy = CommitPolicy.from_settings(settings)
        stored = partial(self._listener.on_checkpoint, self.name)
        self._committer = Committer(store, self._policy, stored)
        self._set_state(SinkState.ACTIVATING, None)
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    def _topic_incident(self, kind: str, reason: str) -> None:
        self._health.incident(IncidentKind(kind), Cause.KAFKA, reason, None)

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Stop gracefully (flush, final checkpoint); False if the thread did not end in time."""
        self._stop.set()
        reader = self._reader
        if reader is not None:
            reader.stop(join_timeout=0)
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> WorkerStatus:
        pipeline = self._pipeline
        confirmed = pipeline.confirmed if pipeline else None
        committed = self._committer.committed if self._committer else None
        health = self._health
        return WorkerStatus(
            name=self.name,
            state=self._state,
            reason=self._reason,
            read=self.read,
            delivered=pipeline.delivered if pipeline else 0,
            failed=pipeline.failed if pipeline else 0,
            last_delivered_position=confirmed.log_position if confirmed else None,
            checkpoint_position=committed.log_position if committed else None,
            last_error=health.last_error,
            definition_digest=self.definition.digest,
            caught_up=self._caught_up(),
            last_error_at=health.last_error_at,
            lost=tuple(c.value for c in health.lost),
        )

    def _caught_up(self) -> bool:
        reader, pipeline = self._reader, self._pipeline
        waiting = reader is not None and not reader.items and self._idle
        running = self._live and self._state is SinkState.RUNNING
        return waiting and running and pipeline is not None and pipeline.in_flight == 0

    def wait_for(self, *states: SinkState, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._state in states, timeout)

    def _set_state(self, state: SinkState, reason: str | None) -> None:
        with self._changed:
            self._state = state
            self._reason = reason
            self._changed.notify_all()
        self._listener.on_state(self.name, state, reason)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    # -- the worker thread ---------------------------------------------------
    def _run(self) -> None:
        assert self._pipeline is not None and self._committer is not None
        client = self._client
        stream = self._plan.stream_name
        starts = ReadStart(
            self._committer, self._pipeline, self._initial_position, stream, self._retrying
        )
        try:
            dead_letters = self.definition.settings.dead_letter_topic
            if self._topics is not None and dead_letters:
                self._topics.ensure(dead_letters)  # dead letters may come from the producer
            self._resume_from(starts.first(client))
            attempt = 0
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    self._subscribe_and_pump(client)
                except TemporaryError as exc:
                    if time.monotonic() - began > _STEADY_S:
                        attempt = 0  # a new outage after a good run starts the backoff over
                    self._drop_reader()
                    self._pipeline.settle(self._stop.is_set)
                    self._report()
                    self._commit(final=True)
                    self._back_off(exc, attempt)
                    attempt += 1
                    self._resume_from(starts.after_outage(client))
            raise _Stopped
        except _Stopped:
            self._finish()
        except PermanentError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug must still end in a visible state
            self._fail(PermanentError(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self._drop_reader()
            client.close()
            self._mapper.close()  # a transformer holds a JavaScript engine and its thread

    def _resume_from(self, point: StartPoint | None) -> None:
        """Read next strictly after ``point`` (None: on from where reading stopped)."""
        if point is not None:
            self._read_at, self._skip_until = point.after, point.skip_until

    def _retrying(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` until it does not raise TemporaryError (BACKOFF meanwhile)."""
        attempt = 0
        while True:
            try:
                return action()
            except TemporaryError as exc:
                self._back_off(exc, attempt)
                attempt += 1

    def _back_off(self, exc: TemporaryError, attempt: int) -> None:
        entering = self._state is not SinkState.BACKOFF
        self._health.back_off(cause_of(exc), str(exc), self._position(), entering=entering)
        self._set_state(SinkState.BACKOFF, str(exc))
        self._sleep(min(0.25 * 2**attempt, _MAX_BACKOFF_S))

    def _subscribe_and_pump(self, client: KurrentClient) -> None:
        at = self._read_at
        subscription = client.subscribe(
            self._plan,
            after_position=at.log_position if at else None,
            after_revision=at.stream_revision if at else None,
        )
        reader = SubscriptionReader(subscription, self.name)
        self._live = False
        self._reader = reader
        reader.start()
        self._set_state(SinkState.RUNNING, None)
        self._health.regain(Cause.KURRENTDB, self._position())
        self._pump(reader)

    def _pump(self, reader: SubscriptionReader) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        items = reader.items
        while True:
            if self._stop.is_set():
                raise _Stopped
            if pipeline.failure is not None:
                self._recover_delivery(pipeline)
            handled = 0
            self._idle = False
            batch: list[Record] = []
            while handled < _REPORT_EVERY and not pipeline.failing:
                try:
                    item = items.popleft()
                except IndexError:
                    break
                handled += 1
                if isinstance(item, Record):
                    if self._skip_until is not None and item.log_position <= self._skip_until:
                        self._read_at = Position(item.log_position, item.stream_revision)
                        continue
                    batch.append(item)
                    if len(batch) >= _MAP_BATCH:
                        self._map_and_send(batch)
                        batch = []
                    continue
                if batch:  # keep read order: records before the marker or error go first
                    self._map_and_send(batch)
                    batch = []
                if item is CAUGHT_UP:
                    self._live = True
                elif isinstance(item, PositionMarker):
                    self._read_at = Position(item.position, None)
                    pipeline.skip(item.position, None)
                elif item is END:
                    raise TemporaryError("kurrentdb: the subscription ended")
                elif isinstance(item, EngineError):
                    raise item
                else:
                    raise PermanentError(f"unexpected subscription item {item!r}")
            if batch:
                self._map_and_send(batch)
            # The records threshold counts records whose position became checkpointable.
            retired = pipeline.retired
            self._policy.count(retired - self._retired)
            self._retired = retired
            if handled == 0:
                self._idle = True  # found nothing to do (read by status())
                # On the reader (it wakes us), not in poll(), where records would wait.
                # Exactly once: an open transaction commits soon after the sink went idle.
                if pipeline.in_flight or pipeline.idle_commit_in() is not None:
                    reader.wait(_BUSY_WAIT_S, batch=_MAP_BATCH)
                else:  # idle: any record ends the nap
                    reader.wait(min(_IDLE_WAIT_S, max(_BUSY_WAIT_S, self._policy.seconds_left())))
            pipeline.poll(0)
            pipeline.commit_due()  # a transaction past its age (group mode)
            pipeline.note_progress()
            self._health.watch_kafka(pipeline, self._position())
            self._report()
            if self._policy.due() or (handled == 0 and pipeline.idle_commit_in() == 0):
                self._commit(final=False)

    def _recover_delivery(self, pipeline: Delivery) -> None:
        """A delivery failed: re-send the window (BACKOFF meanwhile) or fail the sink."""
        failure = pipeline.failure
        assert failure is not None
        self._report()
        if isinstance(failure.error, TemporaryError):
            reason = f"retrying delivery from position {failure.position}: {failure.error}"
            error, at = str(failure.error), failure.position
            self._health.back_off(Cause.KAFKA, reason, at, entering=True, error=error)
            self._set_state(SinkState.BACKOFF, reason)
        if not pipeline.recover(self._stop.is_set):
            raise _Stopped
        self._set_state(SinkState.RUNNING, None)

    def _map_and_send(self, records: list[Record]) -> None:
        """Map a run of records (one transformer call for all) and produce them in order."""
        sender = self._sender
        try:
            sender.send(records)
        finally:
            # Where to resubscribe from: once per run of records, not per record (a
            # position object per event is measurable on the hot path).
            if sender.sent:
                self._read_at = sender.last
                self.read += sender.sent

    # -- bookkeeping -----------------------------------------------------------
    def _report(self) -> None:
        p = self._pipeline
        assert p is not None
        self._reporter.report(self.read, p.delivered, p.failed, p.take_latencies)

    def _commit(self, *, final: bool) -> None:
        """Make progress durable, then store the confirmed position if it moved."""
        pipeline = self._pipeline
        assert pipeline is not None and self._committer is not None
        pipeline.make_durable(final=final)
        problem = self._committer.commit(pipeline.confirmed, pipeline.in_flight, final=final)
        if problem is not None:
            self._health.error(problem)

    def _position(self) -> int | None:
        return None if self._read_at is None else self._read_at.log_position

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop(join_timeout=1.0)

    def _finish(self) -> None:
        self._set_state(SinkState.DEACTIVATING, None)
        self._wind_down(10.0)
        self._set_state(SinkState.STOPPED, None)

    def _fail(self, exc: PermanentError) -> None:
        # What was confirmed before the failure may still be committed: not past it.
        # Nothing in that wind-down may keep the sink from showing FAILED.
        try:
            self._wind_down(5.0)
        except EngineError as also:
            self._health.error(f"while stopping: {also}")
        self._health.fail(exc, self._position())
        self._set_state(SinkState.FAILED, str(exc))

    def _wind_down(self, limit_s: float) -> None:
        """Stop reading, let in-flight reports settle, commit what was confirmed, close."""
        pipeline = self._pipeline
        assert pipeline is not None
        try:
            self._drop_reader()
            pipeline.settle(lambda: False, limit_s=limit_s)
            self._report()
            self._commit(final=True)
        finally:
            pipeline.close(0)
