"""The stand-in's event log: an ordered, in-memory list of recorded events.

Guarantees:
- positions strictly increase and are never 0 (they mimic byte offsets in a transaction
  log; commit position == prepare position for every event);
- a stream's revisions are 0, 1, 2, ... with no gaps, so revision == index in the stream;
- an append is atomic: the expected-version check and the writes happen under one lock, and
  all events of one append become visible to readers together;
- re-appending the same event ids with the same expected version (a revision, or no
  stream) is idempotent, as in KurrentDB: nothing is written, the original outcome returns;
- when a journal is attached, every append is written to it before it becomes visible, and
  :meth:`EventLog.load` rebuilds the same log (same positions) from it.

Stream metadata lives where KurrentDB keeps it, in the ``$$<stream>`` stream; ``$maxCount``
and ``$tb`` of its latest event decide which revisions stream reads still return.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.testbed.standin.frames import Proposed, Recorded, event_frame, parse_event_frame
from engine.testbed.standin.journal import Journal

# The first position handed out; real logs never put a user event at 0 either, and
# "subscribe after 0" must not skip the first event.
FIRST_POSITION = 1024
# Added to the frame length when advancing the position, standing in for record headers.
RECORD_OVERHEAD = 64


class ExpectedKind(enum.Enum):
    ANY = "any"
    NO_STREAM = "no_stream"
    STREAM_EXISTS = "stream_exists"
    REVISION = "revision"


@dataclass(frozen=True)
class Expected:
    kind: ExpectedKind
    revision: int = -1


@dataclass(frozen=True)
class AppendOutcome:
    """Result of one append.

    On success ``current_revision`` is the stream's last revision after the append and
    ``position`` the position of its last event. On a wrong expected version ``ok`` is
    False and ``current_revision`` is the stream's actual last revision (None: no stream).
    """

    ok: bool
    current_revision: int | None
    position: int


@dataclass(frozen=True)
class Truncation:
    max_count: int | None = None
    truncate_before: int | None = None


class EventLog:
    """In-memory ordered log; readers index the parallel lists directly (see read path)."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        # Parallel lists indexed by global index: cheaper for the read loop than objects.
        self.frames: list[bytes] = []
        self.positions: list[int] = []
        self.types: list[str] = []
        self.stream_names: list[str] = []
        self._streams: dict[str, list[int]] = {}
        self._truncation: dict[str, Truncation] = {}
        self._next_position = FIRST_POSITION
        self._journal = journal
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the appending thread) after every append."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> EventLog:
        """Rebuild the log from a journal file and keep appending to it."""
        log = cls()
        for frame in Journal.read_frames(path):
            log._add(parse_event_frame(frame))
        log._journal = Journal(path)
        return log

    # -- writing -------------------------------------------------------------------------
    def append(self, stream: str, expected: Expected, events: Sequence[Proposed]) -> AppendOutcome:
        outcome = self._append(stream, expected, events)
        if outcome.position:
            for listener in list(self._listeners):
                listener()
        return outcome

    def _append(self, stream: str, expected: Expected, events: Sequence[Proposed]) -> AppendOutcome:
        with self._lock:
            indexes = self._streams.get(stream)
            current = len(indexes) - 1 if indexes else None
            if not _satisfies(expected, current):
                repeated = self._already_appended(indexes or [], expected, events)
                if repeated is not None:
                    return repeated
                return AppendOutcome(ok=False, current_revision=current, position=0)
            if not events:
                return AppendOutcome(ok=True, current_revision=current, position=0)
            created = time.time_ns() // 100
            revision = -1 if current is None else current
            records = []
            position = self._next_position
            for proposed in events:
                revision += 1
                frame = event_frame(proposed, stream, revision, position, created)
                records.append(Recorded(stream, revision, position, proposed.event_type, frame))
                position += len(frame) + RECORD_OVERHEAD
            if self._journal is not None:
                self._journal.write([r.frame for r in records])
            for record in records:
                self._add(record)
            self.changed.notify_all()
            return AppendOutcome(ok=True, current_revision=revision, position=records[-1].position)

    def _already_appended(
        self, indexes: list[int], expected: Expected, events: Sequence[Proposed]
    ) -> AppendOutcome | None:
        """The original outcome when ``events`` repeat an earlier append exactly.

        KurrentDB treats re-sending the same event ids with the same expected version
        (a revision, or no stream) as idempotent: it writes nothing and answers with
        the original append's revision and position.
        """
        if expected.kind is ExpectedKind.REVISION:
            start = expected.revision + 1
        elif expected.kind is ExpectedKind.NO_STREAM:
            start = 0
        else:
            return None
        end = start + len(events)
        if not events or start < 0 or end > len(indexes):
            return None
        written = indexes[start:end]
        if [_event_id(self.frames[i]) for i in written] != [e.event_id for e in events]:
            return None
        return AppendOutcome(
            ok=True, current_revision=end - 1, position=self.positions[written[-1]]
        )

    def _add(self, record: Recorded) -> None:
        index = len(self.frames)
        self.frames.append(record.frame)
        self.positions.append(record.position)
        self.types.append(record.event_type)
        self.stream_names.append(record.stream)
        self._streams.setdefault(record.stream, []).append(index)
        self._next_position = record.position + len(record.frame) + RECORD_OVERHEAD
        if record.stream.startswith("$$"):
            self._truncation[record.stream[2:]] = _truncation_of(record.frame)

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frames)

    def stream_indexes(self, stream: str) -> list[int] | None:
        """Global indexes of a stream's events in revision order (None: no such stream)."""
        return self._streams.get(stream)

    def first_visible_revision(self, stream: str) -> int:
        """Lowest revision stream reads return, after ``$maxCount`` / ``$tb`` metadata."""
        truncation = self._truncation.get(stream)
        if truncation is None:
            return 0
        indexes = self._streams.get(stream) or []
        first = 0
        if truncation.max_count is not None:
            first = max(first, len(indexes) - truncation.max_count)
        if truncation.truncate_before is not None:
            first = max(first, truncation.truncate_before)
        return first

    def index_after(self, position: int) -> int:
        """Global index of the first event whose position is greater than ``position``."""
        return bisect_right(self.positions, position)

    def index_at_or_after(self, position: int) -> int:
        return bisect_left(self.positions, position)

    def wait_beyond(self, count: int, timeout: float) -> int:
        """Block until the log holds more than ``count`` events or ``timeout`` passes."""
        with self._lock:
            if len(self.frames) <= count:
                self.changed.wait(timeout)
            return len(self.frames)

    def wake_readers(self) -> None:
        with self._lock:
            self.changed.notify_all()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()


def _satisfies(expected: Expected, current: int | None) -> bool:
    kind = expected.kind
    if kind is ExpectedKind.ANY:
        return True
    if kind is ExpectedKind.NO_STREAM:
        return current is None
    if kind is ExpectedKind.STREAM_EXISTS:
        return current is not None
    return current == expected.revision


def _event_id(frame: bytes) -> str:
    from engine.testbed.standin.protos import streams_pb2

    return str(streams_pb2.ReadResp.FromString(frame).event.event.id.string)


def _truncation_of(frame: bytes) -> Truncation:
    """Read ``$maxCount`` / ``$tb`` from a metadata event; anything unreadable means none."""
    from engine.testbed.standin.protos import streams_pb2

    data = streams_pb2.ReadResp.FromString(frame).event.event.data
    try:
        meta = json.loads(data)
    except ValueError:
        return Truncation()
    if not isinstance(meta, dict):
        return Truncation()
    max_count = meta.get("$maxCount")
    truncate_before = meta.get("$tb")
    return Truncation(
        max_count=max_count if isinstance(max_count, int) and max_count >= 0 else None,
        truncate_before=(
            truncate_before if isinstance(truncate_before, int) and truncate_before >= 0 else None
        ),
    )
