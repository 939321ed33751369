"""The delivery pipeline with Kafka transactions (cluster mode and exactly once).

``TransactionalPipeline`` is a ``DeliveryPipeline`` whose producer has a
``transactional.id`` naming the sink (``engine.runtime.transactions``); the assembly
chooses it (``engine.runtime.assembly``). It guarantees:

* registering the id (``fence``, done before anything is sent) fences every older
  producer of the sink and ends its open transaction: a zombie's messages after
  that point are refused by the broker, and it learns it is ``Fenced``;
* ``confirmed`` (what a checkpoint may hold) only covers committed transactions, and
  asking commits nothing: commits happen in ``commit_due`` (a transaction older than
  its age limit) and ``make_durable`` (right before a checkpoint), nowhere else;
* a message the broker refused and a transaction that failed to commit are handled
  as the base class says, except that the transaction is aborted and sent again
  from its first record (without the refused message, if the poison policy took it);
* with a ``checkpoint_record`` (``delivery:guarantee: exactlyOnce``), every commit
  carries one more record, the sink's checkpoint at the last record of the
  transaction, so the messages and the position they reach commit together or not
  at all; transactions are then committed when the checkpoint policy says so,
  not by age;
* a commit whose outcome is unknown (a timeout: the request may have reached the
  transaction coordinator) is retried as a commit, never aborted and sent again,
  which could deliver twice; only a transaction Kafka says must abort is aborted
  and sent again from its first record;
* with a checkpoint record, an open transaction also commits once the sink is idle
  (nothing left to read) and the transaction is at least ``IDLE_COMMIT_AGE_S`` old;
* ``abandon`` drops the open transaction (aborted) so the caller can read again
  from ``confirmed`` (exactly once: from the stored checkpoint, since a commit that
  timed out may still have happened): what is not committed is never counted as
  delivered.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.adapters.kafka import Fenced, KafkaProducer, Refused, TransactionAborted
from engine.runtime.delivery import DeliveryPipeline
from engine.runtime.delivery_api import ProducerFactory, Rewind
from engine.runtime.tracker import DeliveryTracker, Failure, Position
from engine.runtime.transactions import (
    DEFAULT_MAX_AGE_S,
    Entry,
    TransactionLog,
    transactional_config,
)
from engine.specification.constants import IN_FLIGHT_CAPACITY
from engine.specification.errors import EngineError, TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings

if TYPE_CHECKING:
    from engine.runtime.errors_policy import PoisonPolicy

# (topic, key, value) of the checkpoint record that closes a transaction.
CheckpointRecord = Callable[[Position | None], tuple[str, bytes, bytes]]

_CALL_TIMEOUT_S = 30.0  # one init/commit call; a timeout is retried
_FINAL_COMMIT_TRIES = 2  # a final commit gives up sooner: the next owner resolves it
IDLE_COMMIT_AGE_S = 0.1  # youngest transaction committed because the sink is idle


def _never() -> bool:
    return False


class TransactionalPipeline(DeliveryPipeline):
    def __init__(
        self,
        settings: SinkSettings,
        transactional_id: str,
        *,
        client_id: str = "kafka-sink",
        capacity: int = IN_FLIGHT_CAPACITY,
        producer_extra: Mapping[str, Any] | None = None,
        poison: PoisonPolicy | None = None,
        checkpoint_record: CheckpointRecord | None = None,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        should_stop: Callable[[], bool] = _never,
        new_producer: ProducerFactory = KafkaProducer,
    ) -> None:
        extra = dict(producer_extra or {}) | transactional_config(transactional_id)
        self.transactional_id = transactional_id
        self._checkpoint_record = checkpoint_record
        self._should_stop = should_stop
        # Exactly once: transactions end with checkpoints (the commit policy), not by age.
        self.log = TransactionLog(math.inf if checkpoint_record is not None else max_age_s)
        self._txn_failure: Failure | None = None  # a commit that failed, before recover
        super().__init__(
            settings,
            client_id=client_id,
            capacity=capacity,
            producer_extra=extra,
            poison=poison,
            new_producer=new_producer,
        )

    @property
    def exactly_once(self) -> bool:
        return self._checkpoint_record is not None

    @property
    def failure(self) -> Failure | None:
        if self._txn_failure is not None:
            return self._txn_failure
        return super().failure

    @property
    def confirmed(self) -> Position | None:
        """The last committed position (a query: commits nothing)."""
        return self.log.committed

    def _entering(self, message: Message | None, position: int, revision: int | None) -> None:
        # A record without a message needs no transaction of its own; it commits with
        # the next one (or, exactly once, with a checkpoint record alone).
        log = self.log
        if message is not None and not log.open:
            self._begin(log)
        log.note(message, position, revision)

    def idle_commit_in(self) -> float | None:
        # Exactly once: an open transaction commits as soon as the sink has nothing more
        # to read, once it is IDLE_COMMIT_AGE_S old (a floor, so a trickle of events does
        # not become a transaction each), instead of waiting out autocommit:interval:
        # read_committed consumers see the events that much sooner.
        txn = self.log
        if not self.exactly_once or not txn.open:
            return None
        return max(0.0, IDLE_COMMIT_AGE_S - txn.age())

    def resumed_at(self, position: Position | None) -> None:
        if self.exactly_once:
            self.log.committed = position  # committed with the messages before it

    def fence(self) -> None:
        """Register the transactional id (fences older producers) if not done yet."""
        txn = self.log
        if not txn.initialised:
            self.producer.init_transactions(_CALL_TIMEOUT_S)
            txn.initialised = True

    def _begin(self, txn: TransactionLog) -> None:
        self.fence()
        self.producer.begin_transaction()
        txn.began()

    def make_durable(self, *, final: bool) -> None:
        """Commit the open transaction (exactly once: with its checkpoint record).

        On a final commit (the sink is ending anyway) a fenced or broken producer only
        means nothing more is committed.
        """
        try:
            self._commit(tries=_FINAL_COMMIT_TRIES if final else None)
        except EngineError:
            # Ending anyway (a fence, a fatal producer): the transaction stays open, and
            # the next owner's fence or the broker's timeout aborts it.
            if not final:
                raise

    def commit_due(self) -> None:
        """Commit the open transaction once it is older than its age limit."""
        if self.log.due():
            self._commit(tries=None)

    def _commit(self, *, tries: int | None) -> None:
        """Commit the open transaction, if any (``tries`` None: until the outcome is known).

        ``Fenced`` propagates (the sink must stop); a transaction that must abort
        becomes the pipeline's ``failure``, which ``recover`` handles by aborting
        and sending it again.
        """
        txn = self.log
        if self.failure is not None:
            return
        record = self._checkpoint_record
        if not txn.open:
            if self.tracker.in_flight:
                return
            if record is None or txn.last is None or txn.last == txn.committed:
                txn.committed_now()  # only skipped records since the last commit
                return
            self._begin(txn)  # exactly once: a checkpoint alone moves past skipped records
        if record is not None:
            self.producer.produce_unreported(*record(txn.last))
        attempt = 0
        while True:
            attempt += 1
            try:
                self.producer.commit_transaction(_CALL_TIMEOUT_S)
                break
            except Fenced:
                raise
            except TransactionAborted as exc:
                self._commit_failed(txn, exc)
                return
            except TemporaryError as exc:
                # Unknown outcome: only a commit again is safe (see the module docstring).
                # The error reaches SinkHealth.watch_kafka: logged and counted as Kafka lost.
                self.last_client_error = exc
                if (tries is not None and attempt >= tries) or self._should_stop():
                    return  # left open: the next owner's fence ends it, either way
            except EngineError as exc:
                self._commit_failed(txn, exc)
                return
        txn.committed_now()
        # The commit flushed every message; serve their reports so counts are current.
        while self.tracker.in_flight and self.producer.poll(0.05):
            pass

    def _commit_failed(self, txn: TransactionLog, exc: EngineError) -> None:
        self.failing = True
        self.producer.poll(0.1)  # the reports of the failed transaction's messages
        refused = self.tracker.failure
        if refused is None or not isinstance(refused.error, Refused):
            self._txn_failure = Failure(txn.first, exc)  # else the refusal is the failure

    def _resend(self, change: Callable[[list[Entry]], list[Entry]]) -> None:
        """Abort the failed transaction and send all of it again, in read order."""
        entries = self._replace_producer(self.log)
        self._send_all(change(entries))

    def abandon(self) -> None:
        """Abort the open transaction and forget it: the caller reads it again."""
        if self.log.open or self.tracker.in_flight:
            self._replace_producer(self.log)

    def abandon_uncommitted(self) -> Rewind:
        self.abandon()
        # Exactly once: a commit that timed out may still have happened; the stored
        # checkpoint (read once fenced) says where the last commit ended.
        return Rewind.TO_CHECKPOINT if self.exactly_once else Rewind.TO_COMMIT

    def _replace_producer(self, txn: TransactionLog) -> list[Entry]:
        with contextlib.suppress(EngineError):
            self.producer.abort_transaction(10.0)
        old = self.producer
        self._counts = (self.delivered, self.retired)
        self.tracker = DeliveryTracker(self._capacity)  # the old one's tokens die with `old`
        self.producer = self._new_producer()
        old.close(0)
        self._txn_failure = None
        self._purge = False
        self.failing = False
        return txn.take_for_resend()
