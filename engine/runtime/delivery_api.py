"""What the worker asks of a delivery pipeline, whichever one the assembly chose.

``engine.runtime.assembly`` picks the pipeline (at least once: ``DeliveryPipeline``;
group mode and exactly once: ``TransactionalPipeline``); the worker only knows
``Delivery``. Its methods say what they do:

* queries (``confirmed``, ``in_flight``, ``idle_commit_in``, ...) never change
  anything: asking what may be checkpointed commits nothing;
* actions (``commit_due``, ``make_durable``, ``abandon_uncommitted``) are called by
  the worker loop at fixed moments: ``commit_due`` after each poll of the producer,
  ``make_durable`` right before a checkpoint is stored, ``abandon_uncommitted``
  after an outage, before reading again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from engine.specification.errors import EngineError
from engine.specification.model import Message

if TYPE_CHECKING:
    from engine.adapters.kafka import KafkaProducer
    from engine.runtime.tracker import Failure, Position


# How a pipeline gets its producer: ``KafkaProducer``'s signature (settings, on_ok,
# on_error, client_id=, extra=); tests hand in a fake here.
ProducerFactory = Callable[..., "KafkaProducer"]


class Rewind(enum.Enum):
    """Where reading starts again after an outage, once the pipeline let go of its window."""

    NOTHING = "nothing"  # everything read was delivered: read on after the last record read
    TO_COMMIT = "to-commit"  # read again after ``confirmed`` (the last commit), else the start
    TO_CHECKPOINT = "to-checkpoint"  # load the stored checkpoint again (it may have moved)


class Delivery(Protocol):
    """One sink's way from mapped messages to durable, checkpointable positions."""

    failing: bool  # a delivery failed and ``recover`` has not run yet (read per record)
    failed: int  # failed delivery reports
    last_client_error: EngineError | None  # a client-level broker error, taken by the reader

    @property
    def failure(self) -> Failure | None:
        """The first failed delivery that ``recover`` must handle, if any."""

    @property
    def in_flight(self) -> int:
        """Records read but not yet part of the confirmed prefix."""

    @property
    def delivered(self) -> int:
        """Messages confirmed by the broker (re-sends count again)."""

    @property
    def retired(self) -> int:
        """Records that left the window confirmed, messages or not."""

    @property
    def confirmed(self) -> Position | None:
        """The query: the position below which (inclusive) everything is delivered and
        durable, so a checkpoint may hold it. Changes nothing."""

    def idle_commit_in(self) -> float | None:
        """Seconds until progress should be made durable because the sink is idle
        (None: nothing waits for that)."""

    def send(self, message: Message, position: int, revision: int | None = None) -> None: ...

    def skip(self, position: int, revision: int | None = None) -> None:
        """A record (or server marker) that needs no message."""

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports (and nothing else)."""

    def commit_due(self) -> None:
        """The action: commit what is due now by age; the worker calls it after ``poll``."""

    def make_durable(self, *, final: bool) -> None:
        """The action before a checkpoint: make everything confirmed durable.

        ``final`` (the sink is ending anyway): a broker that will not take it only
        means nothing more becomes durable, never an error.
        """

    def resumed_at(self, position: Position | None) -> None:
        """The sink resumes after ``position`` (its stored checkpoint)."""

    def abandon_uncommitted(self) -> Rewind:
        """After an outage: drop what is not durable; says where reading starts again."""

    def settle(self, should_stop: Callable[[], bool], limit_s: float | None = None) -> bool:
        """Serve reports until none is outstanding; False if stopped or out of time."""

    def recover(self, should_stop: Callable[[], bool]) -> bool:
        """Handle ``failure``: True when the window was sent again; raises when it cannot."""

    def note_progress(self) -> None:
        """Per pump round: forget a recovered failure once the window moved past it."""

    def take_latencies(self) -> list[float]:
        """Produce→confirm latencies (seconds) since the last call."""

    def close(self, timeout: float) -> int:
        """Close the producer; returns how many messages were abandoned."""
