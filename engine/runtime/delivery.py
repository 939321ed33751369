"""The hot path from a mapped message to a broker-confirmed position (at least once).

``DeliveryPipeline`` owns one producer and one ``DeliveryTracker``; it is the
``Delivery`` (``engine.runtime.delivery_api``) of a sink without transactions, and
the base of ``engine.runtime.transactional``. It guarantees:

* messages are produced in read order and the checkpointable position
  (``confirmed``) only covers broker-confirmed messages;
* at most ``capacity`` records are in flight; ``send`` serves delivery reports
  while the window is full;
* after a failed delivery nothing new is produced until ``recover`` ran: it lets
  the in-flight reports settle, then (transient error, retries left) waits
  ``transientErrorDelay``, replaces the producer and re-produces the whole
  window from the first unconfirmed record in order, so per-key order survives;
  otherwise it raises ``DeliveryFailed`` with the position that could not be
  delivered. A message the broker refused for good (``Refused``: too large, an
  invalid record) is first sent again on its own, since the broker refuses the
  whole batch it travelled in (the messages behind it wait in the window); refused
  alone, it is poison: the sink fails at it, unless the sink's ``PoisonPolicy``
  (``errors:tolerance``) takes it: then the window is sent again at once with that
  message skipped or dead-lettered;
* a confirmed delivery is durable: ``confirmed`` is what a checkpoint may hold, and
  there is nothing to commit (``commit_due`` and ``make_durable`` do nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.adapters.kafka import Fenced, KafkaProducer, Refused
from engine.runtime.delivery_api import ProducerFactory, Rewind
from engine.runtime.tracker import DeliveryTracker, Failure, Position
from engine.runtime.transactions import Entry
from engine.specification.constants import IN_FLIGHT_CAPACITY
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings

if TYPE_CHECKING:
    from engine.runtime.errors_policy import PoisonPolicy

_POLL_EVERY = 512  # produce calls between two non-blocking polls
_ALONE_WAIT_S = 30.0  # longest wait for the reports around a message sent on its own


class DeliveryFailed(PermanentError):
    """A message could not be delivered; ``position`` is its log position."""

    def __init__(self, failure: Failure, why: str) -> None:
        super().__init__(f"delivery failed at position {failure.position}: {failure.error} ({why})")
        self.position = failure.position
        self.cause = failure.error


class DeliveryPipeline:
    def __init__(
        self,
        settings: SinkSettings,
        *,
        client_id: str = "kafka-sink",
        capacity: int = IN_FLIGHT_CAPACITY,
        producer_extra: Mapping[str, Any] | None = None,
        poison: PoisonPolicy | None = None,
        new_producer: ProducerFactory = KafkaProducer,
    ) -> None:
        self.settings = settings
        self.poison = poison
        self._client_id = client_id
        self._capacity = capacity
        self._extra = dict(producer_extra or {})
        self._make_producer = new_producer  # the adapter seam (a fake in unit tests)
        self._alone: int | None = None  # position of a refused message sent on its own
        self._counts = (0, 0)  # delivered and retired by trackers replaced (by a subclass)
        self.tracker = DeliveryTracker(capacity)
        self.producer = self._new_producer()
        self._since_poll = 0
        self._retries = 0
        self._retry_at = -1
        self.failed = 0  # failed delivery reports (each re-send that fails counts)
        self.resent = 0  # messages produced again after a failure
        self.last_client_error: EngineError | None = None  # e.g. all brokers down
        self._purge = False
        # True from a failed delivery report until ``recover``: a plain attribute so
        # the caller can look at it per record.
        self.failing = False

    def _new_producer(self) -> KafkaProducer:
        return self._make_producer(
            self.settings,
            self.tracker.confirm,
            self._on_error,
            client_id=self._client_id,
            extra=self._extra,
        )

    def _on_error(self, seq: int, error: EngineError) -> None:
        self.failed += 1
        self.tracker.fail(seq, error)
        self._purge = True
        self.failing = True

    def _purge_after_failure(self) -> None:
        # Messages queued behind a failed one must not reach the broker before it
        # is sent again: drop them from the queue now; the window is re-sent in order.
        if self._purge:
            self._purge = False
            self.producer.purge_queue()

    @property
    def failure(self) -> Failure | None:
        failure = self.tracker.failure
        if failure is not None:
            return failure
        for error in self.producer.take_client_errors():
            self.last_client_error = error
        broken = self.producer.broken
        if broken is not None and self.tracker.in_flight:
            # This producer will not deliver the window: treat its head as failed.
            self.tracker.fail_head(broken)
            failure = self.tracker.failure
            self.failing = failure is not None
        return failure

    # What the worker reads of the delivery window (the tracker stays private to it).
    @property
    def in_flight(self) -> int:
        """Records read but not yet part of the confirmed prefix."""
        return self.tracker.in_flight

    @property
    def delivered(self) -> int:
        """Messages confirmed by the broker (re-sends count again)."""
        return self._counts[0] + self.tracker.delivered

    @property
    def retired(self) -> int:
        """Records that left the window confirmed, messages or not."""
        return self._counts[1] + self.tracker.retired

    def take_latencies(self) -> list[float]:
        """Produce→confirm latencies (seconds) since the last call."""
        return self.tracker.take_latencies()

    @property
    def confirmed(self) -> Position | None:
        """What may be checkpointed: the broker confirmed it (a query: changes nothing)."""
        return self.tracker.confirmed

    def send(self, message: Message, position: int, revision: int | None = None) -> None:
        tracker = self.tracker
        if tracker.full:
            while tracker.full and tracker.failure is None:
                self.poll(0.05)
                self.commit_due()  # as the worker loop does after each poll
        self._entering(message, position, revision)
        seq = tracker.begin(message, position, revision)
        alone = position == self._alone
        if alone:
            self.settle(lambda: False, limit_s=_ALONE_WAIT_S)  # nothing else in its batch
        elif self.failing and self._alone is not None:
            return  # behind a refused probe: kept in the window, produced after recover
        try:
            self.producer.produce(message, seq)
        except Refused as exc:
            # Refused before it left (larger than the producer takes): a poison event
            # for the policy to take, handled as a refused delivery report would be.
            if self.poison is None or not self.poison.tolerates(exc):
                raise
            self._alone = position
            self._on_error(seq, exc)
        if alone:
            self.settle(lambda: False, limit_s=_ALONE_WAIT_S)
        self._since_poll += 1
        if self._since_poll >= _POLL_EVERY:
            self._since_poll = 0
            self.producer.poll(0)
            self._purge_after_failure()

    def skip(self, position: int, revision: int | None = None) -> None:
        """A record (or server marker) that needs no message."""
        self._entering(None, position, revision)
        self.tracker.begin(None, position, revision)

    def _entering(self, message: Message | None, position: int, revision: int | None) -> None:
        """A record enters the window (produced or not); a subclass keeps its own account."""

    # -- at least once: a confirmed delivery is durable, nothing to commit ------------

    def commit_due(self) -> None:
        """Nothing is ever due: the broker's confirmation was the commit."""

    def make_durable(self, *, final: bool) -> None:
        """Nothing to do: ``confirmed`` is durable already."""

    def idle_commit_in(self) -> float | None:
        return None  # nothing waits for the sink to be idle

    def resumed_at(self, position: Position | None) -> None:
        """Nothing to restore: the tracker starts empty."""

    def abandon_uncommitted(self) -> Rewind:
        return Rewind.NOTHING  # settled after the outage: what was read is delivered

    def poll(self, timeout: float = 0.0) -> None:
        self.producer.poll(timeout)
        self._purge_after_failure()

    def settle(self, should_stop: Callable[[], bool], limit_s: float | None = None) -> bool:
        """Serve reports until none is outstanding; False if stopped or out of time."""
        deadline = None if limit_s is None else time.monotonic() + limit_s
        while self.producer.pending() > 0:
            if self.producer.broken is not None:
                return True  # its reports are lost; the window is re-sent anyway
            if should_stop() or (deadline is not None and time.monotonic() > deadline):
                return False
            try:
                self.producer.flush(0.2)
            except EngineError:
                return True
        self.producer.poll(0)
        return True

    def recover(self, should_stop: Callable[[], bool]) -> bool:
        """Handle the current failure; True when the window was re-sent.

        Raises ``DeliveryFailed`` when the failure is not retryable (or retries
        are exhausted); returns False if asked to stop while waiting.
        """
        failure = self.failure
        if failure is None:
            return True
        settings = self.settings
        self._purge_after_failure()
        if isinstance(failure.error, Fenced):
            raise failure.error  # another owner runs the sink now: stop, never retry
        # A refused message (the tracker's failure), not a refused commit (a subclass's).
        if isinstance(failure.error, Refused) and failure is self.tracker.failure:
            if not self.settle(should_stop):
                return False
            if self._alone != failure.position:
                # The broker refuses a whole batch for one message in it: send the window
                # again with this message on its own, to learn whether it is the one.
                self._alone = failure.position
                self._resend(lambda entries: entries)
                return True
            self._alone = None
            poison = self.poison
            if poison is not None and poison.tolerates(failure.error):
                self._resend(lambda entries: poison.replace(entries, failure))
                return True
        if not isinstance(failure.error, TemporaryError):
            raise DeliveryFailed(failure, "not a transient error")
        if not settings.resilience_enabled:
            raise DeliveryFailed(failure, "resilience is disabled")
        if 0 <= settings.max_retries <= self._retries:
            raise DeliveryFailed(failure, f"gave up after {self._retries} retries")
        if not self.settle(should_stop):
            return False
        deadline = time.monotonic() + settings.transient_error_delay_s
        while time.monotonic() < deadline:
            if should_stop():
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        self._retries += 1
        self._retry_at = failure.position
        self._resend(lambda entries: entries)
        return True

    def _resend(self, change: Callable[[list[Entry]], list[Entry]]) -> None:
        """Send the window again in order, through ``change``, on a new producer."""
        old = self.producer
        self.producer = self._new_producer()
        old.close(0)
        entries = change(self.tracker.rewind())
        self._purge = False  # set by the reports of the purge itself, not by a new failure
        self.failing = False
        self._send_all(entries)

    def _send_all(self, entries: list[Entry]) -> None:
        for message, position, revision in entries:
            if message is None:
                self.skip(position, revision)
            else:
                self.resent += 1
                self.send(message, position, revision)

    def note_progress(self) -> None:
        """Reset the retry count once the window moved past a recovered failure."""
        confirmed = self.tracker.confirmed
        if self._retries and confirmed is not None and confirmed.log_position >= self._retry_at:
            self._retries = 0
        alone = self._alone
        if alone is not None and confirmed is not None and confirmed.log_position >= alone:
            self._alone = None  # the message sent on its own went through: it was not poison

    def close(self, timeout: float) -> int:
        return self.producer.close(timeout)
