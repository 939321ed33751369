"""The engine's only door to KurrentDB, through esdbclient or kurrentdbclient.

Which of the two is decided once, at import (``engine.adapters.kurrentdb_library``):
kurrentdbclient is a fork of esdbclient with the same client API, the same v1 protocol
messages and the same channel-construction hook; mostly its exception classes are
renamed (``ServiceUnavailable`` → ``ServiceUnavailableError``, ...). Both are named
below and everything after that is shared, so the two behave alike here.

What this module guarantees:

* Subscriptions yield ``engine.specification.model.Record`` values and ``PositionMarker`` values
  (the server's checkpoints on a filtered ``$all`` subscription, so a sink whose
  filter rarely matches still moves its checkpoint) and ``CAUGHT_UP`` once the
  server has sent everything stored so far (live events follow), and nothing else.
* A subscription resumes strictly *after* the position it is given: a commit
  position for ``$all``, a stream revision for one stream.
* Reads run on grpc's single-threaded unary-stream path (``SingleThreadedClient``): a
  subscription's replies are taken from the network on the thread that iterates
  it, instead of being handed between grpc's channel thread and the caller per
  message. Measured on the stand-in, that is six times the events per second of the
  default path at a fifth of the CPU per event. What stays the same (checked by
  the fault tests): a dead or restarted server surfaces as ``ServiceUnavailable``
  while iterating, ``stop()`` from another thread ends the iteration quietly,
  even while the subscription waits for live events.
* Every client exception leaves as ``TemporaryError`` (server unreachable,
  deadline exceeded, connection dropped: worth a resubscribe) or
  ``PermanentError`` (access denied, bad request, wrong expected version, ...); the
  text names the client's own exception class.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc.experimental

from engine.adapters.kurrentdb_library import chosen_library
from engine.specification.errors import (
    EngineError,
    PermanentError,
    TemporaryError,
    WrongExpectedVersion,
)
from engine.specification.model import Record

if TYPE_CHECKING:
    from engine.mapping.filters import SubscriptionPlan

LIBRARY = chosen_library()

if LIBRARY == "esdbclient":
    from esdbclient import EventStoreDBClient as _LibraryClient
    from esdbclient import NewEvent, StreamState
    from esdbclient import exceptions as _e

    _ClientException: type[Exception] = _e.EventStoreDBClientException
    _CancelledByClient: type[Exception] = _e.CancelledByClient
    _NotFound: type[Exception] = _e.NotFound
    _WrongCurrentVersion: type[Exception] = _e.WrongCurrentVersion
    _TEMPORARY_CLIENT: tuple[type[Exception], ...] = (
        _e.ServiceUnavailable,
        _e.DeadlineExceeded,
        _e.AbortedByServer,
        _e.CancelledByClient,
        _e.NodeIsNotLeader,
        _e.DiscoveryFailed,
        _e.MaximumSubscriptionsReached,
    )
    _PERMANENT_FIRST: tuple[type[Exception], ...] = ()
else:
    from kurrentdbclient import KurrentDBClient as _LibraryClient  # type: ignore[no-redef]
    from kurrentdbclient import NewEvent, StreamState  # type: ignore[no-redef]
    from kurrentdbclient import exceptions as _k

    _ClientException = _k.KurrentDBClientError
    _CancelledByClient = _k.CancelledByClientError
    _NotFound = _k.NotFoundError
    _WrongCurrentVersion = _k.WrongCurrentVersionError
    _TEMPORARY_CLIENT = (
        _k.ServiceUnavailableError,
        _k.DeadlineExceededError,
        _k.AbortedByServerError,
        _k.CancelledByClientError,
        _k.NodeIsNotLeaderError,
        _k.DiscoveryFailedError,
        _k.MaximumSubscriptionsReachedError,
    )
    # Multi-stream append refusals, filed under AbortedByServerError: not for retrying.
    _PERMANENT_FIRST = (_k.TransactionMaxSizeExceededError, _k.MultiAppendToSameStreamError)

_TEMPORARY = (*_TEMPORARY_CLIENT, ConnectionError, TimeoutError)


def translate(exc: BaseException, doing: str) -> EngineError:
    """The engine error for one client-library (or socket) exception."""
    detail = str(exc) or type(exc).__name__
    text = f"kurrentdb: {doing}: {type(exc).__name__}: {detail}"
    if isinstance(exc, _TEMPORARY) and not isinstance(exc, _PERMANENT_FIRST):
        return TemporaryError(text)
    if _unavailable_underneath(exc):
        return TemporaryError(text)
    return PermanentError(text)


def _unavailable_underneath(exc: BaseException) -> bool:
    """kurrentdbclient turns a gRPC error that carries a rich status it does not know
    into its base class, even when the status code says the server is unavailable or
    slow (esdbclient always reads the code). The gRPC error is its cause on reads and
    its context elsewhere (raised ``from None``, which hides it but keeps it)."""
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, grpc.RpcError) or not callable(getattr(cause, "code", None)):
        return False
    return cause.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True, slots=True)
class PositionMarker:
    """The server has read $all up to ``position`` without a matching event."""

    position: int


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """The subscription has delivered everything stored so far; live events follow."""


CAUGHT_UP = CaughtUp()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """The last event of a stream, for small bookkeeping streams."""

    version: int
    event_type: str
    data: bytes


class Subscription:
    """An iterator over one catch-up subscription; ``stop()`` works from any thread.

    Replies are taken from the client's subscription one by one (so its error
    translation applies) and turned into ``Record`` values here, straight from the
    protocol message: the client's own conversion builds a ``UUID``, a ``datetime``
    and a ``RecordedEvent`` per event that a sink would only turn back into a
    string and milliseconds (about a third of the reading cost per event).
    """

    def __init__(self, inner: Any, description: str) -> None:
        self._inner = inner
        self._description = description

    def __iter__(self) -> Iterator[Record | PositionMarker | CaughtUp]:
        try:
            next_reply = getattr(self._inner, "_get_next_read_resp", None)
            if next_reply is None:  # a client without it: its own conversion
                yield from self._converted()
                return
            while True:
                try:
                    reply = next_reply()
                except _CancelledByClient:
                    return  # stop() was called
                except BaseException:
                    self.stop()
                    raise
                content = reply.WhichOneof("content")
                if content == "event":
                    record = _record(reply.event)
                    if record is not None:
                        yield record
                elif content == "checkpoint":
                    yield PositionMarker(reply.checkpoint.commit_position)
                elif content == "caught_up":
                    yield CAUGHT_UP
                elif content == "stream_not_found":
                    raise _NotFound(f"stream not found: {self._description}")
        except _ClientException as exc:
            raise translate(exc, f"reading {self._description}") from exc
        except Exception as exc:  # grpc surfaces a dead channel in several shapes
            raise translate(exc, f"reading {self._description}") from exc

    def _converted(self) -> Iterator[Record | PositionMarker | CaughtUp]:
        for event in self._inner:
            if event.is_checkpoint:
                yield PositionMarker(event.commit_position)
            elif event.is_caught_up:
                yield CAUGHT_UP
            else:
                recorded_at = event.recorded_at
                yield Record(
                    str(event.id),
                    event.stream_name,
                    event.stream_position,
                    event.commit_position if event.commit_position is not None else -1,
                    int(recorded_at.timestamp() * 1000) if recorded_at is not None else 0,
                    event.type,
                    event.content_type == "application/json",
                    event.data,
                    event.metadata,
                )

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # stopping a dead call is not an error
            self._inner.stop()


def _record(read_event: Any) -> Record | None:
    """A ``Record`` from a ``ReadResp.ReadEvent`` (the event itself, not a link to it)."""
    event = read_event.event
    event_id = event.id.string
    if not event_id:
        return None  # both clients skip these too (seen when resolving deleted links)
    if len(event_id) != 36 or not event_id.islower():
        event_id = str(uuid.UUID(event_id))  # the canonical spelling, as the clients give
    metadata = event.metadata
    try:
        created_ms = int(metadata["created"]) // 10_000  # 100 ns ticks since 1970
    except (KeyError, ValueError):
        created_ms = 0
    has_position = read_event.WhichOneof("position") == "commit_position"
    return Record(
        event_id,
        event.stream_identifier.stream_name.decode(),
        event.stream_revision,
        event.commit_position if has_position else -1,
        created_ms,
        metadata.get("type", ""),
        metadata.get("content-type", "") == "application/json",
        event.data,
        event.custom_metadata,
    )


# A channel option of grpc's Python layer (not of its core): server-streaming calls
# are read on the calling thread. Unary calls (appends, reads of one stream) are not
# affected.
_SINGLE_THREADED_READS = ((grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),)


class SingleThreadedClient(_LibraryClient):
    """The library's client whose every channel (first connect, reconnects, discovery)
    carries the single-threaded streaming option. Both libraries open every channel
    through ``_construct_esdb_connection``. The benchmarks use it raw too."""

    def _construct_esdb_connection(self, grpc_target: str, grpc_options: Any = ()) -> Any:
        return super()._construct_esdb_connection(
            grpc_target, tuple(grpc_options) + _SINGLE_THREADED_READS
        )


class KurrentClient:
    """A connection to one KurrentDB (lazy: nothing is sent until first use)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._client = SingleThreadedClient(uri=url)
        except _ClientException as exc:
            raise translate(exc, f"connecting to {url}") from exc
        except ValueError as exc:
            raise PermanentError(f"kurrentdb: invalid connection string {url!r}: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken channel must not hide the real error
            self._client.close()

    def subscribe(
        self,
        plan: SubscriptionPlan,
        *,
        after_position: int | None = None,
        after_revision: int | None = None,
        from_end: bool = False,
    ) -> Subscription:
        """Subscribe per ``plan``: after the given position/revision, else the start or the end.

        For ``$all``, ``after_position`` is a commit position; for one stream,
        ``after_revision`` is a stream revision.
        """
        try:
            if plan.stream_name is not None:
                inner = self._client.subscribe_to_stream(
                    plan.stream_name,
                    stream_position=after_revision,
                    from_end=from_end and after_revision is None,
                    include_caught_up=True,
                )
                return Subscription(inner, f"stream {plan.stream_name!r}")
            inner = self._client.subscribe_to_all(
                commit_position=after_position,
                from_end=from_end and after_position is None,
                filter_include=plan.filter_include,
                filter_exclude=plan.filter_exclude,
                filter_by_stream_name=plan.filter_by_stream_name,
                include_checkpoints=True,
                include_caught_up=True,
            )
            return Subscription(inner, "$all")
        except _ClientException as exc:
            raise translate(exc, "subscribing") from exc
        except Exception as exc:
            raise translate(exc, "subscribing") from exc

    def read_last(self, stream: str) -> StoredEvent | None:
        """The last event of ``stream``, or None when the stream does not exist."""
        try:
            events = self._client.get_stream(stream, backwards=True, limit=1)
        except _NotFound:
            return None
        except _ClientException as exc:
            raise translate(exc, f"reading {stream!r}") from exc
        if not events:
            return None
        event = events[0]
        return StoredEvent(event.stream_position, event.type, event.data)

    def append(
        self, stream: str, event_type: str, data: bytes, *, expected_version: int | None
    ) -> int:
        """Append one JSON event; ``expected_version`` None means the stream must not exist.

        Returns the new stream version.
        """
        current: int | StreamState = (
            StreamState.NO_STREAM if expected_version is None else expected_version
        )
        try:
            self._client.append_to_stream(
                stream,
                current_version=current,
                events=[NewEvent(type=event_type, data=data)],
            )
        except _WrongCurrentVersion as exc:
            raise WrongExpectedVersion(
                f"kurrentdb: {stream!r} was written by someone else (expected version "
                f"{'none' if expected_version is None else expected_version}): {exc}"
            ) from exc
        except _ClientException as exc:
            raise translate(exc, f"appending to {stream!r}") from exc
        return 0 if expected_version is None else expected_version + 1

    def append_any(self, stream: str, events: list[tuple[str, bytes, bytes]]) -> int:
        """Append ``(event_type, json_data, json_metadata)`` events at any version.

        Returns the commit position of the last one (the test bed's sample events).
        """
        try:
            new = [NewEvent(type=t, data=d, metadata=m) for t, d, m in events]
            return int(
                self._client.append_to_stream(stream, current_version=StreamState.ANY, events=new)
            )
        except _ClientException as exc:
            raise translate(exc, f"appending to {stream!r}") from exc

    def set_max_count(self, stream: str, max_count: int) -> None:
        """Keep only the last ``max_count`` events of ``stream`` (``$maxCount`` metadata)."""
        try:
            metadata, _version = self._client.get_stream_metadata(stream)
            if metadata.get("$maxCount") == max_count:
                return
            metadata = dict(metadata, **{"$maxCount": max_count})
            self._client.set_stream_metadata(stream, metadata=metadata)
        except _ClientException as exc:
            raise translate(exc, f"setting $maxCount on {stream!r}") from exc

    def head_position(self) -> int:
        """Commit position of the last event in $all (system events included); 0 if empty."""
        try:
            return int(self._client.get_commit_position(filter_exclude=()))
        except _ClientException as exc:
            raise translate(exc, "reading the head of $all") from exc

    def stream_revision(self, stream: str) -> int | None:
        """Revision of the last event of ``stream``, None if it does not exist."""
        last = self.read_last(stream)
        return None if last is None else last.version


def head_position(url: str) -> int:
    """Commit position of the last event in $all at ``url`` (for lag figures)."""
    client = KurrentClient(url)
    try:
        return client.head_position()
    finally:
        client.close()


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
