"""What a sink's worker tells people about its trouble: incidents, the last error, lost links.

``SinkHealth`` is the worker's one place for bad news. It guarantees:

* every incident (FAILED, an entry into BACKOFF, a dependency lost, a dependency
  back, a poison event skipped or dead-lettered) reaches the listener once, as an
  ``Incident`` naming the cause, the reason and the position;
* a dependency (KurrentDB, the brokers) is reported lost once per outage and back
  once when it answers again;
* ``last_error`` carries its wall-clock time (``last_error_at``) and clears once
  every lost dependency is back, so a healthy sink shows no stale error; a FAILED
  sink keeps its error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.runtime.worker_api import Cause, Incident, IncidentKind, WorkerListener

if TYPE_CHECKING:
    from engine.runtime.delivery_api import Delivery

# Error texts start with the component that raised them ("kafka: ...", "kurrentdb: ...").
_PREFIXES = {"kafka:": Cause.KAFKA, "kurrentdb:": Cause.KURRENTDB, "checkpoint": Cause.CHECKPOINT}
DEPENDENCIES = (Cause.KURRENTDB, Cause.KAFKA)


def cause_of(error: BaseException) -> Cause:
    """The cause label of an error raised while a sink runs."""
    from engine.adapters.kafka import Fenced
    from engine.mapping.pipeline import TransformError
    from engine.runtime.delivery import DeliveryFailed

    if isinstance(error, Fenced):
        return Cause.FENCED
    if isinstance(error, TransformError):
        return Cause.TRANSFORMER
    if isinstance(error, DeliveryFailed):
        return Cause.DELIVERY
    text = str(error)
    for prefix, cause in _PREFIXES.items():
        if text.startswith(prefix):
            return cause
    return Cause.INTERNAL


def position_of(error: BaseException) -> int | None:
    """The log position an error names (a failed delivery, a failing transform)."""
    position = getattr(error, "position", None)
    return position if isinstance(position, int) else None


class SinkHealth:
    def __init__(self, name: str, listener: WorkerListener) -> None:
        self._name = name
        self._listener = listener
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.lost: dict[Cause, str] = {}  # dependency → the error that lost it
        self._delivered_at_loss = 0

    def error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = time.time()

    def incident(self, kind: IncidentKind, cause: Cause, reason: str, position: int | None) -> None:
        if kind is not IncidentKind.BACK:
            self.error(reason)
        self._listener.on_incident(
            self._name, Incident(kind, cause, reason, position, self.last_error_at or time.time())
        )

    def back_off(
        self, cause: Cause, reason: str, position: int | None, *, entering: bool, error: str = ""
    ) -> None:
        """BACKOFF: an incident when the sink enters it; the dependency (if one) is lost."""
        if entering:
            self.incident(IncidentKind.BACKOFF, cause, reason, position)
        self.lose(cause, error or reason, position)

    def fail(self, error: BaseException, position: int | None) -> None:
        """FAILED: the error's own position (a failed delivery, a transform) if it has one."""
        at = position_of(error)
        self.incident(
            IncidentKind.FAILED, cause_of(error), str(error), position if at is None else at
        )

    def lose(self, cause: Cause, reason: str, position: int | None) -> None:
        """A dependency cannot be reached (reported once per outage)."""
        if cause not in DEPENDENCIES:
            self.error(reason)
            return
        if cause in self.lost:
            self.error(reason)
            return
        self.lost[cause] = reason
        self.incident(IncidentKind.LOST, cause, reason, position)

    def regain(self, cause: Cause, position: int | None) -> None:
        """A dependency answers again; the last error clears once nothing is lost."""
        reason = self.lost.pop(cause, None)
        if reason is None:
            return
        self.incident(IncidentKind.BACK, cause, f"{cause.value} reachable again", position)
        if not self.lost:
            self.last_error = None  # its time stays in last_error_at and in the metrics

    def watch_kafka(self, pipeline: Delivery, position: int | None) -> None:
        """Per pump round: a client-level broker error loses Kafka; a confirmation regains it."""
        error = pipeline.last_client_error
        if error is not None:
            pipeline.last_client_error = None
            if Cause.KAFKA not in self.lost:
                self._delivered_at_loss = pipeline.delivered
            self.lose(Cause.KAFKA, str(error), position)
        elif Cause.KAFKA in self.lost and pipeline.delivered > self._delivered_at_loss:
            self.regain(Cause.KAFKA, position)
