"""Kafka transactions around a sink's messages (cluster mode).

In cluster mode every sink produces through a transactional producer whose
``transactional.id`` names the group and the sink. Opening it fences every older
producer with that id, so a member that lost a sink while it was frozen (a long
pause, SIGSTOP) cannot write one more message once the new owner has started: the
broker refuses it, and the old producer learns it is ``Fenced``.

``TransactionLog`` keeps what the open transaction carries, in read order, so that
an aborted transaction can be sent again from its first record. It guarantees:

* ``committed`` is the position of the last record of the last committed
  transaction: every message up to it is in Kafka for good, and nothing after it
  may be checkpointed (a checkpoint never passes uncommitted messages);
* a transaction is due after ``max_age_s`` (a short time: it bounds both the
  latency seen by ``read_committed`` consumers and what an abort sends again).
"""

from __future__ import annotations

import time
from typing import Any

from engine.runtime.tracker import Position
from engine.specification.constants import TRANSACTION_TIMEOUT_MS
from engine.specification.model import Message

DEFAULT_MAX_AGE_S = 0.25

Entry = tuple[Message | None, int, int | None]  # message (None: no message), position, revision


def transactional_id(prefix: str, sink: str) -> str:
    return f"{prefix}{sink}"


def transactional_config(transactional_id: str) -> dict[str, Any]:
    """The producer keys of a transactional producer with that id."""
    return {
        "transactional.id": transactional_id,
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        # Transactions need the idempotent producer, whatever waitForBrokerAck says.
        "acks": "all",
        "enable.idempotence": True,
    }


class TransactionLog:
    def __init__(self, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self.open = False  # a transaction is begun on the producer
        self.initialised = False  # init_transactions ran on the current producer
        self.committed: Position | None = None
        self._entries: list[Entry] = []
        self._opened_at = 0.0

    def began(self) -> None:
        self.open = True
        self._opened_at = time.monotonic()

    def note(self, message: Message | None, position: int, revision: int | None) -> None:
        self._entries.append((message, position, revision))

    def age(self) -> float:
        """Seconds since the open transaction began (0 when none is open)."""
        return time.monotonic() - self._opened_at if self.open else 0.0

    def due(self) -> bool:
        return self.open and time.monotonic() - self._opened_at >= self.max_age_s

    @property
    def first(self) -> int:
        """Log position of the open transaction's first record (-1: none)."""
        return self._entries[0][1] if self._entries else -1

    @property
    def last(self) -> Position | None:
        if not self._entries:
            return None
        _message, position, revision = self._entries[-1]
        return Position(position, revision)

    def committed_now(self) -> None:
        """The open transaction committed: everything noted is durable."""
        last = self.last
        if last is not None:
            self.committed = last
        self._entries = []
        self.open = False

    def take_for_resend(self) -> list[Entry]:
        """The aborted transaction's records, to be sent again in order."""
        entries, self._entries = self._entries, []
        self.open = False
        self.initialised = False  # a new producer comes with the resend
        return entries
