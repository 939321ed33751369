"""In-memory KurrentDB and Kafka at the seam the runtime gets from ``engine.runtime.assembly``.

``FakeWorld.adapters`` is an ``Adapters`` (a KurrentDB client for a URL, a producer
factory): a ``SinkWorker`` or a pipeline given it runs without a broker or a server.

* ``FakeKurrentDB`` holds ``$all`` (events appended in order, log positions 100, 101,
  ...) and small bookkeeping streams (the checkpoints). A subscription yields every
  event after its start, ``CAUGHT_UP``, then live events, until stopped or until the
  test ``drop``s it (the subscription ends: an outage).
* ``FakeKafka`` holds topics as a ``read_committed`` consumer sees them: a message
  lands when its delivery report is served (by ``poll``/``flush``, on the thread that
  calls them) and, for a transactional producer, only once its transaction commits.
  Tests script what goes wrong: a report that fails (``fail``), a report that is held
  back until ``release`` (the broker has not answered yet), commit errors
  (``commit_errors``), a newer producer with the same id (``fence``).
* Every checkpoint stored is kept with the positions Kafka had (visibly) at that
  moment, so a test can check that no checkpoint ever passed an undelivered record.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.adapters.kafka import Fenced
from engine.adapters.kurrentdb import CAUGHT_UP, StoredEvent
from engine.runtime.assembly import Adapters
from engine.runtime.checkpoints import decode_checkpoint
from engine.specification.errors import EngineError, TemporaryError, WrongExpectedVersion
from engine.specification.model import Message, Record

FIRST_POSITION = 100
PURGED = "kafka: Local: Purged in queue (_PURGE_QUEUE)"


@dataclass(frozen=True)
class StoredCheckpoint:
    """One checkpoint append, with what Kafka showed when it was made."""

    position: int | None
    visible: frozenset[int]  # positions of the messages a read_committed consumer saw


class FakeSubscription:
    def __init__(self, db: FakeKurrentDB, after: int | None) -> None:
        self._db = db
        self._after = -1 if after is None else after
        self._stopped = False

    def __iter__(self) -> Iterator[Any]:
        db = self._db
        sent_caught_up = False
        index = 0
        generation = db.generation
        while True:
            with db.changed:
                while True:
                    if self._stopped:
                        return
                    if db.generation != generation:
                        raise TemporaryError("kurrentdb: the server went away (fake)")
                    if index < len(db.events) or not sent_caught_up:
                        break
                    db.changed.wait(0.5)
                batch = db.events[index:]
                index = len(db.events)
            for record in batch:
                if record.log_position > self._after:
                    yield record
            if not sent_caught_up:
                sent_caught_up = True
                yield CAUGHT_UP

    def stop(self) -> None:
        self._stopped = True
        with self._db.changed:
            self._db.changed.notify_all()


class FakeKurrentClient:
    """What the runtime calls on ``engine.adapters.kurrentdb.KurrentClient``."""

    def __init__(self, db: FakeKurrentDB) -> None:
        self._db = db

    def subscribe(self, plan: Any, *, after_position: int | None = None, **_: Any) -> Any:
        assert plan.stream_name is None, "the fake serves $all only"
        self._db.subscriptions += 1
        return FakeSubscription(self._db, after_position)

    def read_last(self, stream: str) -> StoredEvent | None:
        with self._db.changed:
            events = self._db.streams.get(stream)
            return events[-1] if events else None

    def append(
        self, stream: str, event_type: str, data: bytes, *, expected_version: int | None
    ) -> int:
        db = self._db
        with db.changed:
            events = db.streams.setdefault(stream, [])
            current = len(events) - 1 if events else None
            if current != expected_version:
                raise WrongExpectedVersion(f"{stream} is at {current}, not {expected_version}")
            return db.store(stream, event_type, data)

    def append_any(self, stream: str, events: list[tuple[str, bytes, bytes]]) -> int:
        with self._db.changed:
            for event_type, data, _metadata in events:
                self._db.streams.setdefault(stream, [])
                self._db.store(stream, event_type, data)
            return 0

    def set_max_count(self, stream: str, max_count: int) -> None:
        """Kept in full: tests read every checkpoint."""

    def head_position(self) -> int:
        with self._db.changed:
            return self._db.events[-1].log_position if self._db.events else 0

    def stream_revision(self, stream: str) -> int | None:
        last = self.read_last(stream)
        return None if last is None else last.version

    def close(self) -> None:
        pass


class FakeKurrentDB:
    def __init__(self, witness: Callable[[], frozenset[int]]) -> None:
        self.changed = threading.Condition(threading.RLock())
        self.events: list[Record] = []
        self.streams: dict[str, list[StoredEvent]] = {}
        self.checkpoints: dict[str, list[StoredCheckpoint]] = {}
        self.generation = 0  # bumped by ``drop``: live subscriptions end with an error
        self.subscriptions = 0
        self._witness = witness

    def append(self, stream: str, count: int, *, key: str = "k0") -> list[Record]:
        """``count`` JSON events ``{"n": i}`` to ``<stream>-<key>`` (keyed by suffix)."""
        with self.changed:
            records = []
            for _ in range(count):
                n = len(self.events)
                record = Record(
                    record_id=f"00000000-0000-0000-0000-{n:012d}",
                    stream_id=f"{stream}-{key}",
                    stream_revision=n,
                    log_position=FIRST_POSITION + n,
                    timestamp_ms=1_700_000_000_000 + n,
                    schema_subject="Counted",
                    is_json=True,
                    value=json.dumps({"n": n}).encode(),
                )
                self.events.append(record)
                records.append(record)
            self.changed.notify_all()
            return records

    def drop(self) -> None:
        """The server goes away for a moment: every open subscription fails."""
        with self.changed:
            self.generation += 1
            self.changed.notify_all()

    def store(self, stream: str, event_type: str, data: bytes) -> int:
        events = self.streams[stream]
        events.append(StoredEvent(len(events), event_type, data))
        if stream.endswith("/checkpoints"):
            position = decode_checkpoint(data, stream).position
            stored = StoredCheckpoint(
                None if position is None else position.log_position, self._witness()
            )
            self.checkpoints.setdefault(stream.split("/")[1], []).append(stored)
        return len(events) - 1

    def stored(self, sink: str) -> list[int | None]:
        with self.changed:
            return [c.position for c in self.checkpoints.get(sink, [])]


@dataclass
class _Queued:
    token: int
    message: Message
    producer: FakeProducer


@dataclass
class FakeKafka:
    """The broker side: topics as read_committed consumers see them, and scripted trouble."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    topics: dict[str, list[Message]] = field(default_factory=dict)
    producers: list[FakeProducer] = field(default_factory=list)
    failures: dict[int, deque[EngineError]] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    commit_errors: deque[EngineError] = field(default_factory=deque)
    commits: int = 0
    aborts: int = 0
    registered: dict[str, FakeProducer] = field(default_factory=dict)

    def producer(
        self,
        settings: Any,
        on_ok: Callable[[int], None],
        on_error: Callable[[int, EngineError], None],
        *,
        client_id: str = "kafka-sink",
        extra: Mapping[str, Any] | None = None,
    ) -> FakeProducer:
        producer = FakeProducer(self, on_ok, on_error, dict(extra or {}).get("transactional.id"))
        with self.lock:
            self.producers.append(producer)
        return producer

    def fail(self, position: int, *errors: EngineError) -> None:
        """The next reports of the message at ``position`` fail with ``errors``, in turn."""
        with self.lock:
            self.failures.setdefault(position, deque()).extend(errors)

    def hold(self, position: int) -> None:
        """The broker does not answer for the message at ``position`` until ``release``."""
        with self.lock:
            self.held.add(position)

    def release(self, position: int) -> None:
        with self.lock:
            self.held.discard(position)

    def fence(self, transactional_id: str) -> None:
        """A newer producer registers the id: the one that had it is fenced."""
        with self.lock:
            old = self.registered.pop(transactional_id, None)
            if old is not None:
                old.fenced = True
                old.open.clear()

    def positions(self, topic: str) -> list[int]:
        with self.lock:
            return [m.position for m in self.topics.get(topic, [])]

    def numbers(self, topic: str, key: str | None = None) -> list[int]:
        """The ``n`` of each message of ``topic`` (of one key), in topic order."""
        with self.lock:
            messages = list(self.topics.get(topic, []))
        return [json.loads(m.value)["n"] for m in messages if key is None or m.key == key.encode()]

    def visible(self) -> frozenset[int]:
        with self.lock:
            return frozenset(m.position for ms in self.topics.values() for m in ms)

    def land(self, messages: list[Message]) -> None:
        for message in messages:
            self.topics.setdefault(message.topic, []).append(message)


class FakeProducer:
    """What the pipelines call on ``engine.adapters.kafka.KafkaProducer``."""

    def __init__(
        self,
        kafka: FakeKafka,
        on_ok: Callable[[int], None],
        on_error: Callable[[int, EngineError], None],
        transactional_id: str | None,
    ) -> None:
        self._kafka = kafka
        self._on_ok = on_ok
        self._on_error = on_error
        self.transactional_id = transactional_id
        self.queue: deque[_Queued] = deque()
        self.open: list[Message] = []  # delivered in the open transaction, not yet visible
        self.in_transaction = False
        self.fenced = False
        self.closed = False
        self.broken: EngineError | None = None
        self.client_errors: list[EngineError] = []

    def take_client_errors(self) -> list[EngineError]:
        errors, self.client_errors = self.client_errors, []
        return errors

    def produce(self, message: Message, token: int) -> None:
        assert not self.closed, "produce on a closed producer"
        if self.transactional_id is not None:
            assert self.in_transaction, "produce outside a transaction"
        with self._kafka.lock:
            self.queue.append(_Queued(token, message, self))

    def produce_unreported(self, topic: str, key: bytes, value: bytes) -> None:
        assert self.in_transaction, "a checkpoint record outside a transaction"
        with self._kafka.lock:
            self.open.append(Message(topic, key, value, (), 0, -1))

    def _serve(self, *, purge: bool = False) -> int:
        """Serve every report the broker has an answer for (in order); returns how many."""
        kafka = self._kafka
        served = 0
        with kafka.lock:
            waiting: deque[_Queued] = deque()
            while self.queue:
                item = self.queue.popleft()
                position = item.message.position
                if position in kafka.held:
                    waiting.append(item)
                    continue
                served += 1
                failures = kafka.failures.get(position)
                if purge:
                    self._on_error(item.token, TemporaryError(PURGED))
                elif self.fenced:
                    self._on_error(item.token, Fenced("kafka: fenced by a newer producer"))
                elif failures:
                    self._on_error(item.token, failures.popleft())
                else:
                    if self.transactional_id is None:
                        kafka.land([item.message])
                    else:
                        self.open.append(item.message)
                    self._on_ok(item.token)
            self.queue = waiting
        return served

    def poll(self, timeout: float = 0.0) -> int:
        served = self._serve()
        if not served and timeout:
            time.sleep(min(timeout, 0.005))  # the broker has not answered yet
        return served

    def flush(self, timeout: float) -> int:
        self._serve()
        if self.queue:
            time.sleep(min(timeout, 0.005))
        return len(self.queue)

    def purge_queue(self) -> None:
        self._serve(purge=True)

    def pending(self) -> int:
        return len(self.queue)

    def init_transactions(self, timeout: float) -> None:
        assert self.transactional_id is not None
        self._kafka.fence(self.transactional_id)
        with self._kafka.lock:
            self._kafka.registered[self.transactional_id] = self

    def begin_transaction(self) -> None:
        assert self.transactional_id in self._kafka.registered, "begin before init"
        assert not self.in_transaction, "a transaction is open already"
        self.in_transaction = True

    def commit_transaction(self, timeout: float) -> None:
        kafka = self._kafka
        if self.fenced:
            raise Fenced("kafka: fenced by a newer producer")
        self.flush(timeout)
        with kafka.lock:
            if kafka.commit_errors:
                error = kafka.commit_errors.popleft()
                if not isinstance(error, TemporaryError) or "timed out" not in str(error):
                    raise error
                kafka.land(self.open)  # the commit went through; only the answer was lost
                kafka.commits += 1
                self.open = []
                self.in_transaction = False
                raise error
            kafka.land(self.open)
            kafka.commits += 1
            self.open = []
            self.in_transaction = False

    def abort_transaction(self, timeout: float) -> None:
        with self._kafka.lock:
            self.open = []
            self.queue.clear()
            self.in_transaction = False
            self._kafka.aborts += 1

    def close(self, timeout: float = 5.0) -> int:
        remaining = 0 if self.closed else self.flush(timeout)
        self.closed = True
        return remaining


class FakeWorld:
    """One fake KurrentDB and one fake Kafka, and the ``Adapters`` that reach them."""

    def __init__(self) -> None:
        self.kafka = FakeKafka()
        self.kurrentdb = FakeKurrentDB(self.kafka.visible)
        self.clients: list[FakeKurrentClient] = []
        self.adapters = Adapters(self._client, self.kafka.producer)  # type: ignore[arg-type]

    def _client(self, url: str) -> FakeKurrentClient:
        client = FakeKurrentClient(self.kurrentdb)
        self.clients.append(client)
        return client


class RecordingPipeline:
    """Records what a ``BatchSender`` hands on: (topic, position) per message, (None,
    position) per skipped record (the part of a delivery pipeline the sender uses)."""

    def __init__(self) -> None:
        self.handed: list[tuple[str | None, int]] = []

    def send(self, message: Message, position: int, revision: int | None = None) -> None:
        self.handed.append((message.topic, position))

    def skip(self, position: int, revision: int | None = None) -> None:
        self.handed.append((None, position))
