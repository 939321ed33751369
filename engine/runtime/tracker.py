"""Delivery tracking: which position may be checkpointed.

Every record read gets a sequence number in read order, whether it becomes a
Kafka message or not (filtered records and server position markers are
"delivered" at once). Broker confirmations may arrive in any order across
partitions; the tracker only ever reports the position of the *last record of
the contiguous confirmed prefix*, so a checkpoint never passes an event that the
broker has not confirmed.

The window (records read but not yet part of the confirmed prefix) is bounded by
``capacity``; the reader waits while ``full``. On a delivery failure the window's
messages are handed back in read order (``rewind``) so they can be produced
again and per-key order survives: a later message of the same key is never left
standing before an earlier one that had to be re-sent.

Single-threaded by design: the worker thread reads, produces and serves
delivery reports, so no locks are needed.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from engine.specification.constants import IN_FLIGHT_CAPACITY
from engine.specification.errors import EngineError
from engine.specification.model import Message

_now = time.monotonic

# One window slot: (message or None, log position, stream revision, time produced).
_Slot = tuple[Message | None, int, int | None, float]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a sink stands: a log (commit) position and, for stream sinks, a revision."""

    log_position: int
    stream_revision: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failed delivery since the last rewind."""

    position: int
    error: EngineError


class DeliveryTracker:
    def __init__(self, capacity: int = IN_FLIGHT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._slots: deque[_Slot] = deque()
        self._base = 0  # sequence number of _slots[0]
        self._next = 0  # sequence number the next begin() returns
        self._early: set[int] = set()  # confirmed, but behind an unconfirmed one
        self._last: _Slot | None = None  # last slot of the confirmed prefix
        self._failure: Failure | None = None
        self._latencies: list[float] = []
        self.delivered = 0  # messages confirmed since creation (re-sends count again)
        self.retired = 0  # records that left the window confirmed (messages or not)

    @property
    def in_flight(self) -> int:
        return len(self._slots)

    @property
    def full(self) -> bool:
        return len(self._slots) >= self.capacity

    @property
    def failure(self) -> Failure | None:
        return self._failure

    @property
    def confirmed(self) -> Position | None:
        """The last position below which (inclusive) everything is delivered."""
        last = self._last
        return None if last is None else Position(last[1], last[2])

    def begin(self, message: Message | None, position: int, revision: int | None) -> int:
        """Register one record in read order; returns its sequence number.

        A record without a message (filtered out, position marker) counts as
        delivered as soon as everything before it is.
        """
        seq = self._next
        self._next = seq + 1
        self._slots.append((message, position, revision, _now()))
        if message is None:
            self.confirm(seq)
        return seq

    def confirm(self, seq: int) -> None:
        """The broker confirmed message ``seq`` (or it needed no delivery)."""
        base = self._base
        if seq != base:
            if seq > base:
                self._early.add(seq)
            return  # below the base: a report from before a rewind, already counted
        slots = self._slots
        early = self._early
        latencies = self._latencies
        now = _now()
        delivered = 0
        # Called once per delivery report: counters stay in locals until the run
        # of confirmed records ends (with several partitions, reports come out of
        # order and one report often releases a long run from ``early``).
        while True:
            slot = slots.popleft()
            if slot[0] is not None:
                delivered += 1
                latencies.append(now - slot[3])
            base += 1
            if not early or base not in early:
                break
            early.discard(base)
        self.retired += base - self._base
        self._base = base
        self.delivered += delivered
        self._last = slot

    def fail(self, seq: int, error: EngineError) -> None:
        """Delivery of ``seq`` failed; remembered until the next rewind."""
        if seq < self._base:
            return
        slot = self._slots[seq - self._base]
        if self._failure is None or slot[1] < self._failure.position:
            self._failure = Failure(slot[1], error)

    def fail_head(self, error: EngineError) -> None:
        """The oldest record in the window failed (the producer itself broke)."""
        if self._slots:
            self.fail(self._base, error)

    def take_latencies(self) -> list[float]:
        """Produce→confirm latencies (seconds) of messages confirmed since the last call."""
        latencies, self._latencies = self._latencies, []
        return latencies

    def rewind(self) -> list[tuple[Message | None, int, int | None]]:
        """Empty the window and return its records in read order, to be begun again.

        Call only when no delivery report for the window is outstanding. Messages
        confirmed out of order are returned too: sending them again after the
        failed one keeps the per-key order in the topic's tail.
        """
        entries = [(message, position, revision) for message, position, revision, _ in self._slots]
        self._slots.clear()
        self._early.clear()
        self._base = self._next
        self._failure = None
        return entries
