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

from engine.constants import DEFAULT_KURRENTDB_URL


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


class WorkerListener(Protocol):
    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...


class _Silent:
    """A listener that ignores every event."""

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...


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
