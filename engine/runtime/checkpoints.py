"""Sink checkpoints, kept in KurrentDB itself.

Each sink has one stream, ``$connectors/<sink-name>/checkpoints``. Every commit
appends one small JSON event ``{"logPosition": P, "streamRevision": R}`` with the
expected version of the previous one, so two processes running the same sink
cannot silently overwrite each other: the one that finds the stream moved stops
with ``AnotherWriter`` ("another engine is writing the checkpoints of sink X");
``$maxCount`` keeps the stream short. In cluster mode a store is given the member's
lease (``may_write``): while the group has not recently confirmed this member, a
checkpoint is not written (a ``TemporaryError``, so the commit is only noted). A
member frozen past its session wakes with its sinks' threads running before its
membership thread has released them; without the check, such a copy wrote its
overdue checkpoint under the new owner, whose next append then found the stream
moved and stopped the sink's only live copy.
``logPosition`` null means "from the very beginning" (written by a reset to
earliest). A sink resumes strictly after the stored position.

``CommitPolicy`` decides when to commit: every ``autocommit:interval`` ms or
every ``autocommit:recordsThreshold`` records, whichever comes first; the worker
commits once more on a graceful stop. ``Committer`` stores a confirmed position
when it moved and remembers the last one stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.adapters.kurrentdb import KurrentClient, encode_json
from engine.runtime.tracker import Position
from engine.specification.errors import (
    EngineError,
    PermanentError,
    TemporaryError,
    WrongExpectedVersion,
)
from engine.specification.settings import InitialPosition, SinkSettings

CHECKPOINT_EVENT_TYPE = "$checkpoint"
MAX_COUNT = 10


def checkpoint_stream(sink_name: str) -> str:
    return f"$connectors/{sink_name}/checkpoints"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A stored checkpoint; ``position`` None means "start from the beginning"."""

    position: Position | None


def decode_checkpoint(data: bytes, stream: str) -> Checkpoint:
    try:
        body = json.loads(data)
        log_position = body["logPosition"]
        revision = body.get("streamRevision")
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"checkpoint stream {stream!r} holds an unreadable event") from exc
    if log_position is None:
        return Checkpoint(None)
    return Checkpoint(Position(int(log_position), None if revision is None else int(revision)))


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    position = checkpoint.position
    return encode_json(
        {
            "logPosition": None if position is None else position.log_position,
            "streamRevision": None if position is None else position.stream_revision,
        }
    )


class AnotherWriter(PermanentError):
    """The checkpoint stream moved under this sink: another copy of it is running."""


class LeaseExpired(TemporaryError):
    """This member's place in the group is not confirmed now: its sinks write nothing."""


class Store(Protocol):
    """Where a sink's checkpoints live (``CheckpointStore``, or the exactly-once one)."""

    sink_name: str

    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


class CheckpointStore:
    """Reads and appends one sink's checkpoints (expected-version appends).

    ``mirror_of``: the stream only mirrors a checkpoint kept elsewhere (exactly once:
    the Kafka one wins, ``engine.runtime.exactly_once``); appends then take any
    version, since fencing is Kafka's job, and their metadata names the original.
    """

    def __init__(
        self,
        client: KurrentClient,
        sink_name: str,
        *,
        max_count: int = MAX_COUNT,
        mirror_of: str | None = None,
        may_write: Callable[[], bool] | None = None,
    ):
        self._client = client
        self._may_write = may_write
        self.sink_name = sink_name
        self.stream = checkpoint_stream(sink_name)
        self._max_count = max_count
        self._mirror_of = mirror_of
        self._version: int | None = None
        self._loaded = False

    def load(self) -> Checkpoint | None:
        """The latest checkpoint, or None when the sink has never committed."""
        last = self._client.read_last(self.stream)
        self._loaded = True
        if last is None:
            self._version = None
            return None
        self._version = last.version
        return decode_checkpoint(last.data, self.stream)

    def save(self, checkpoint: Checkpoint) -> None:
        if self._mirror_of is not None:
            metadata = encode_json({"mirrorOf": self._mirror_of})
            data = encode_checkpoint(checkpoint)
            self._client.append_any(self.stream, [(CHECKPOINT_EVENT_TYPE, data, metadata)])
            if not self._loaded:
                self._loaded = True
                self._client.set_max_count(self.stream, self._max_count)
            return
        if not self._loaded:
            self.load()
        if self._may_write is not None and not self._may_write():
            raise LeaseExpired(
                "this member's place in the group is not confirmed (its session may have "
                "expired): the checkpoint is not written"
            )
        first = self._version is None
        try:
            self._version = self._client.append(
                self.stream,
                CHECKPOINT_EVENT_TYPE,
                encode_checkpoint(checkpoint),
                expected_version=self._version,
            )
        except WrongExpectedVersion as exc:
            # Only a second copy of this sink writes here: two standalone engines on
            # one folder, or a member that kept running after its sink moved.
            raise AnotherWriter(
                f"another engine is writing the checkpoints of sink {self.sink_name} "
                f"({self.stream} moved past version "
                f"{'none' if self._version is None else self._version}); this copy stops "
                "so that the sink is not delivered twice"
            ) from exc
        if first:
            self._client.set_max_count(self.stream, self._max_count)


class CommitPolicy:
    """Commit every ``interval_ms`` or every ``records_threshold`` records, first wins."""

    def __init__(self, enabled: bool, interval_ms: int, records_threshold: int) -> None:
        self.enabled = enabled
        self._interval = max(interval_ms, 0) / 1000.0
        self._threshold = records_threshold if records_threshold > 0 else None
        self._records = 0
        self._last = time.monotonic()

    @classmethod
    def from_settings(cls, settings: SinkSettings) -> CommitPolicy:
        return cls(
            settings.autocommit_enabled,
            settings.autocommit_interval_ms,
            settings.autocommit_records_threshold,
        )

    def count(self, records: int = 1) -> None:
        self._records += records

    def due(self, now: float | None = None) -> bool:
        if not self.enabled:
            return False
        if self._threshold is not None and self._records >= self._threshold:
            return True
        now = time.monotonic() if now is None else now
        return now - self._last >= self._interval

    def seconds_left(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(0.0, self._interval - (now - self._last))

    def committed(self, now: float | None = None) -> None:
        self._records = 0
        self._last = time.monotonic() if now is None else now


class Committer:
    """Stores confirmed positions into ``store`` as ``policy`` allows."""

    def __init__(
        self, store: Store, policy: CommitPolicy, on_stored: Callable[[int], None]
    ) -> None:
        self.store = store
        self.policy = policy
        self._on_stored = on_stored
        self.committed: Position | None = None  # the last position stored (or loaded)

    def commit(self, confirmed: Position | None, in_flight: int, *, final: bool) -> str | None:
        """Store ``confirmed`` if it moved; returns why it could not be stored, if so.

        A temporary failure is only noted (the next commit carries the position);
        a permanent one (another writer) raises unless the sink is ending anyway.
        """
        policy = self.policy
        if not policy.enabled or confirmed is None or confirmed == self.committed:
            # Nothing new is confirmed yet: stay due while records are in flight, so
            # the commit happens as soon as the broker confirms them.
            if in_flight == 0:
                policy.committed()
            return None
        try:
            self.store.save(Checkpoint(confirmed))
        except EngineError as exc:
            policy.committed()  # try again after the next interval, not every loop
            if isinstance(exc, PermanentError) and not final:
                raise
            return f"checkpoint not stored: {exc}"
        self.committed = confirmed
        policy.committed()
        self._on_stored(confirmed.log_position)
        return None


@dataclass(frozen=True, slots=True)
class StartPoint:
    """Where a sink starts reading: strictly ``after`` a position (None: the beginning).

    ``skip_until``: for a stream sink whose checkpoint has a log position but no
    revision (a reset by position), read the stream from its start and skip every
    record at or before that log position.
    """

    after: Position | None
    skip_until: int | None = None


def start_point(
    client: KurrentClient,
    checkpoint: Checkpoint | None,
    initial: InitialPosition,
    stream: str | None,
) -> StartPoint:
    """The start for a sink: after its checkpoint, else per ``subscription:initialPosition``."""
    if checkpoint is not None:
        position = checkpoint.position
        if position is not None and stream is not None and position.stream_revision is None:
            return StartPoint(None, skip_until=position.log_position)
        return StartPoint(position)
    if initial is InitialPosition.EARLIEST:
        return StartPoint(None)
    # "Latest" is pinned to the current end once, so that resubscribing after an
    # outage before the first event arrived misses nothing appended meanwhile.
    head = client.head_position()
    if stream is None:
        return StartPoint(Position(head) if head > 0 else None)
    revision = client.stream_revision(stream)
    return StartPoint(None if revision is None else Position(head, revision))


def reset(
    url: str,
    sink_name: str,
    target: int | str,
    *,
    stream_name: str | None = None,
    first: Callable[[Checkpoint], None] | None = None,
) -> Checkpoint:
    """Write a checkpoint so the sink resumes after ``target`` on its next start.

    ``target``: a log position, ``"earliest"`` (from the beginning) or ``"latest"``
    (after the current head of $all, or of ``stream_name`` for a stream sink).
    ``first`` writes it somewhere else before KurrentDB (exactly once: Kafka).
    """
    client = KurrentClient(url)
    try:
        if target == "earliest":
            checkpoint = Checkpoint(None)
        elif target == "latest":
            revision = None if stream_name is None else client.stream_revision(stream_name)
            checkpoint = Checkpoint(Position(client.head_position(), revision))
        elif isinstance(target, int) and target >= 0:
            checkpoint = Checkpoint(Position(target, None))
        else:
            raise PermanentError(f"invalid reset target {target!r}")
        if first is not None:
            first(checkpoint)
        store = CheckpointStore(client, sink_name)
        store.load()
        store.save(checkpoint)
        return checkpoint
    finally:
        client.close()
