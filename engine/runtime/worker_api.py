"""What a running sink shows the rest of the engine: its states, status and events.

``SinkWorker`` (``engine.runtime.worker``) owns the behaviour; this module only
holds the values and the listener protocol that the supervisor, the status server
and the metrics read, so they need not import the worker's machinery.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
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
