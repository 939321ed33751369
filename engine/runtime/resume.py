"""Where a sink reads from: once when it starts, and again after each outage.

``ReadStart`` guarantees:

* at start, reading begins strictly after the stored checkpoint (the committer and
  the pipeline learn that position too), else per ``subscription:initialPosition``,
  a "latest" being pinned to the current head once;
* after an outage, the pipeline says what it dropped (``Rewind``): nothing (reading
  goes on after the last record read, which was delivered: the caller keeps its
  place), an uncommitted transaction (read again after the last commit, else where
  the run began), or maybe a commit (exactly once: the checkpoint is loaded again;
  without one, the run's first start holds, so a pinned "latest" stays where it was);
* a temporary failure while loading is retried through the caller's ``retrying``
  (the sink is in BACKOFF meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import Committer, StartPoint, start_point
from engine.runtime.delivery_api import Delivery, Rewind
from engine.specification.settings import InitialPosition

_T = TypeVar("_T")


class Retrying(Protocol):
    def __call__(self, action: Callable[[], _T]) -> _T: ...


class ReadStart:
    def __init__(
        self,
        committer: Committer,
        pipeline: Delivery,
        initial: InitialPosition,
        stream: str | None,
        retrying: Retrying,
    ) -> None:
        self._committer = committer
        self._pipeline = pipeline
        self._initial = initial
        self._stream = stream
        self._retrying = retrying
        self.began = StartPoint(None)  # where this run began reading

    def first(self, client: KurrentClient, *, again: bool = False) -> StartPoint:
        """After the checkpoint, else the initial position (``again``: else ``began``)."""
        committer, initial, stream = self._committer, self._initial, self._stream
        checkpoint = self._retrying(committer.store.load)
        start = (
            self.began
            if again and checkpoint is None
            else self._retrying(lambda: start_point(client, checkpoint, initial, stream))
        )
        self.began = start
        if checkpoint is not None:
            committer.committed = checkpoint.position
            self._pipeline.resumed_at(checkpoint.position)
        return start

    def after_outage(self, client: KurrentClient) -> StartPoint | None:
        """Where to read again once the pipeline dropped what is not durable (None: on)."""
        rewind = self._pipeline.abandon_uncommitted()
        if rewind is Rewind.TO_CHECKPOINT:
            return self.first(client, again=True)
        if rewind is Rewind.TO_COMMIT:
            committed = self._pipeline.confirmed
            return self.began if committed is None else StartPoint(committed)
        return None
