"""What a running sink shows the rest of the engine: its states, status and events.

``Reporter`` turns the sink's running counters into the listener's increments.

``SinkWorker`` (``engine.runtime.worker``) owns the behaviour; this module only
holds the values and the listener protocol that the supervisor, the status server
and the metrics read, so they need not import the worker's machinery.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.specification.constants import DEFAULT_ENGINE_ID, DEFAULT_KURRENTDB_URL
from engine.specification.naming import transactional_prefix as _prefix_of


class Cause(enum.Enum):
    """What a sink's trouble came from (the ``cause`` label of the failure counters)."""

    DELIVERY = "delivery"  # the broker refused a message (too large, invalid record)
    TRANSFORMER = "transformer"  # the JavaScript transformer threw (or timed out)
    KURRENTDB = "kurrentdb"  # the subscription or the server
    KAFKA = "kafka"  # the brokers or the producer
    CHECKPOINT = "checkpoint"  # reading or writing the checkpoint stream
    FENCED = "fenced"  # another owner of the sink took over (cluster mode)
    INTERNAL = "internal"  # a defect of the engine


class IncidentKind(enum.Enum):
    FAILED = "failed"  # the sink stopped for good
    BACKOFF = "backoff"  # the sink waits and tries again
    LOST = "dependency_lost"  # KurrentDB or the brokers cannot be reached
    BACK = "dependency_back"  # ... and can again
    SKIPPED = "event_skipped"  # a poison event was left out (errors:tolerance skip)
    DEAD_LETTERED = "event_dead_lettered"  # ... or sent to the dead-letter topic
    TOPIC_DIFFERS = "topic_differs"  # topics:create found a topic with other settings
    TOPIC_NOT_CREATED = "topic_not_created"  # ... or could not create one


@dataclass(frozen=True)
class Incident:
    """One state change a user must know about: logged by the event log, counted by metrics."""

    kind: IncidentKind
    cause: Cause
    reason: str
    position: int | None  # log position the sink stood at (the failed event's, if one)
    at: float  # wall-clock seconds


class SinkState(enum.Enum):
    ACTIVATING = "ACTIVATING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    DEACTIVATING = "DEACTIVATING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Connections:
    kurrentdb_url: str = DEFAULT_KURRENTDB_URL
    # Cluster mode: every sink produces in transactions with the id <prefix><sink>, so
    # that the member that takes a sink over fences the one that had it.
    transactional_prefix: str | None = None
    # delivery:guarantee exactlyOnce: the prefix of every such sink's transactional id
    # (the group's, or the standalone engine's id: sinks-engine.<id>.<sink>).
    exactly_once_prefix: str = _prefix_of(DEFAULT_ENGINE_ID)
    # Cluster mode: whether the group has recently confirmed this member (its lease);
    # at-least-once sinks write no checkpoint while it is false (engine.runtime.checkpoints).
    lease: Callable[[], bool] | None = None


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    state: SinkState
    reason: str | None
    read: int
    delivered: int
    failed: int
    last_delivered_position: int | None
    checkpoint_position: int | None
    last_error: str | None
    definition_digest: str
    caught_up: bool = False
    last_error_at: float | None = None  # wall-clock seconds of ``last_error``
    lost: tuple[str, ...] = ()  # dependencies (Cause values) that cannot be reached now


class WorkerListener(Protocol):
    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...
    def on_incident(self, sink: str, incident: Incident) -> None: ...


class _Silent:
    """A listener that ignores every event."""

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...
    def on_incident(self, sink: str, incident: Incident) -> None: ...


class Fanout:
    """Hands every event to several listeners in turn (metrics, the event log)."""

    def __init__(self, *listeners: WorkerListener) -> None:
        self._listeners = listeners

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None:
        for listener in self._listeners:
            listener.on_state(sink, state, reason)

    def on_read(self, sink: str, count: int) -> None:
        for listener in self._listeners:
            listener.on_read(sink, count)

    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None:
        for listener in self._listeners:
            listener.on_delivered(sink, count, latencies_s)

    def on_failed(self, sink: str, count: int) -> None:
        for listener in self._listeners:
            listener.on_failed(sink, count)

    def on_checkpoint(self, sink: str, position: int) -> None:
        for listener in self._listeners:
            listener.on_checkpoint(sink, position)

    def on_incident(self, sink: str, incident: Incident) -> None:
        for listener in self._listeners:
            listener.on_incident(sink, incident)


def silent_listener() -> WorkerListener:
    return _Silent()


class Reporter:
    """Hands one sink's counters to its listener as increments since the last report."""

    __slots__ = ("_delivered", "_failed", "_listener", "_name", "_read")

    def __init__(self, name: str, listener: WorkerListener) -> None:
        self._name = name
        self._listener = listener
        self._read = self._delivered = self._failed = 0

    def report(
        self, read: int, delivered: int, failed: int, latencies: Callable[[], Sequence[float]]
    ) -> None:
        listener, name = self._listener, self._name
        if read != self._read:
            listener.on_read(name, read - self._read)
            self._read = read
        if delivered != self._delivered:
            listener.on_delivered(name, delivered - self._delivered, latencies())
            self._delivered = delivered
        if failed != self._failed:
            listener.on_failed(name, failed - self._failed)
            self._failed = failed
