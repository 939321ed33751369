"""One engine process's membership in a group that shares the sinks.

Guarantees:

* The group decides ownership: a sink is this member's while the consumer group
  assigns it the sink's control topic (``engine.specification.naming``), and no longer.
* Stop before start across members: ``OwnershipListener.released`` is called inside
  the group's revoke callback and must return only once those sinks are stopped.
  The cooperative protocol hands a revoked topic to its next owner only after this
  member has rejoined, that is after the callback returned.
* No split brain: ``lease_valid()`` is true only while the broker has recently
  confirmed (a synchronous commit, about once a heartbeat) that this member is in
  the current generation, and it turns false a heartbeat before the session the
  broker keeps for it can expire. When the coordination cluster cannot be reached,
  or a frozen process wakes up after its session expired, the lease runs out and the
  member releases every sink with ``ReleaseReason.LOST``.
* Every change of ownership is logged (``cluster.assigned``, ``cluster.revoked``,
  ``cluster.lost``) and counted in ``MembershipStats``.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from engine.adapters.kafka import group as kafka_group
from engine.specification import naming
from engine.specification.connection import ClusterConnection
from engine.specification.errors import EngineError, PermanentError, TemporaryError


class Emitter(Protocol):
    """Where membership events go (``engine.supervisor.logs.EventLog`` in the engine)."""

    def emit(self, level: str, event: str, **fields: object) -> None: ...


class _Quiet:
    def emit(self, level: str, event: str, **fields: object) -> None:
        return None


class ReleaseReason(enum.Enum):
    REBALANCE = "rebalance"  # a planned hand-over to another member
    LOST = "lost"  # the session expired or the cluster was out of reach too long
    LEAVING = "leaving"  # this member is shutting down


class OwnershipListener(Protocol):
    def acquired(self, sinks: frozenset[str]) -> None:
        """The group gave these sinks to this member (may start them later)."""

    def released(self, sinks: frozenset[str], reason: ReleaseReason) -> None:
        """Stop these sinks; return only once they are stopped."""


@dataclass(frozen=True)
class MembershipStats:
    group: str
    member_id: str | None
    generation: int | None
    owned: frozenset[str]
    rebalances: int
    lost: int
    fenced: int
    lease_valid: bool
    last_error: str | None


def client_id(group: str) -> str:
    return naming.member_client_id(group, kafka_group.host_name(), os.getpid())


class Membership:
    def __init__(
        self,
        connection: ClusterConnection,
        group: str,
        listener: OwnershipListener,
        *,
        client_factory: Callable[..., kafka_group.GroupClient] = kafka_group.GroupClient,
        poll_interval: float = 0.1,
        log: Emitter | None = None,
    ) -> None:
        self._log: Emitter = log or _Quiet()
        self.connection = connection
        self.group = naming.check_group(group)
        self._listener = listener
        self._factory = client_factory
        self._poll_interval = poll_interval
        self._client: kafka_group.GroupClient | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._owned: frozenset[str] = frozenset()
        self._confirmed_at: float | None = None
        self._rebalances = 0
        self._lost = 0
        self._fenced = 0
        self._last_error: str | None = None
        self._failure: EngineError | None = None
        self._known_topics: set[str] = set()
        self._wanted: set[str] = set()
        self._member_id: str | None = None
        self._generation: int | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Join the group; raises ``TemporaryError`` naming the cluster if unreachable."""
        kafka_group.check_reachable(self.connection, timeout)
        self._client = self._factory(
            self.connection,
            group_id=naming.consumer_group_id(self.group),
            client_id=client_id(self.group),
            pattern=naming.subscription_pattern(self.group),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._thread = threading.Thread(target=self._run, name=f"group-{self.group}", daemon=True)
        self._thread.start()
        self._log.emit(
            "INFO", "cluster.joining", group=self.group, cluster=self.connection.describe()
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Leave the group: every owned sink is released (LEAVING) before this returns."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def failure(self) -> EngineError | None:
        """Set when the membership ended on a permanent error (bad credentials)."""
        return self._failure

    # -- what the engine asks ----------------------------------------------------------

    def want(self, sinks: Iterable[str], timeout: float = 10.0) -> None:
        """Make sure every named sink has its control topic (idempotent).

        When the cluster cannot be reached the topics are created later by the
        membership thread, which retries every few seconds.
        """
        topics = {naming.control_topic(self.group, s) for s in sinks}
        with self._lock:
            self._wanted |= topics
        self._create_missing(timeout)

    def _create_missing(self, timeout: float) -> None:
        with self._lock:
            missing = self._wanted - self._known_topics
        if not missing:
            return
        try:
            kafka_group.ensure_topics(self.connection, missing, timeout)
        except TemporaryError as exc:
            self._last_error = str(exc)
            self._log.emit("WARNING", "cluster.topics_pending", group=self.group, error=str(exc))
            return
        with self._lock:
            self._known_topics |= missing

    def group_view(self, timeout: float = 5.0) -> dict[str, kafka_group.GroupMemberInfo]:
        """Every sink the group has assigned, with the member that owns it."""
        members = kafka_group.describe_group(
            self.connection, naming.consumer_group_id(self.group), timeout
        )
        view: dict[str, kafka_group.GroupMemberInfo] = {}
        for member in members:
            for topic in member.topics:
                sink = naming.sink_of(self.group, topic)
                if sink is not None:
                    view[sink] = member
        return view

    def note_fenced(self, sink: str) -> None:
        """A sink of this member stopped because its producer was fenced."""
        self._fenced += 1
        self._last_error = f"sink {sink} was fenced: another member runs it now"

    def owned(self) -> frozenset[str]:
        return self._owned

    def lease_valid(self) -> bool:
        confirmed = self._confirmed_at
        if confirmed is None:
            return False
        margin = (self.connection.session_timeout_ms - self.connection.heartbeat_interval_ms) / 1000
        return time.monotonic() < confirmed + margin

    def stats(self) -> MembershipStats:
        # The client is only touched on the membership thread (librdkafka's consumer
        # calls can wait on its poll); these two are copied from there.
        return MembershipStats(
            group=self.group,
            member_id=self._member_id,
            generation=self._generation,
            owned=self._owned,
            rebalances=self._rebalances,
            lost=self._lost,
            fenced=self._fenced,
            lease_valid=self.lease_valid(),
            last_error=self._last_error,
        )

    # -- the group's callbacks (on the membership thread) ------------------------------

    def _sinks(self, topics: list[str]) -> frozenset[str]:
        found = (naming.sink_of(self.group, t) for t in topics)
        return frozenset(s for s in found if s is not None)

    def _on_assign(self, topics: list[str]) -> None:
        sinks = self._sinks(topics)
        self._rebalances += 1
        self._copy_identity()
        self._confirmed_at = time.monotonic()  # an assignment is the broker's own word
        if not sinks:
            return
        with self._lock:
            self._owned = self._owned | sinks
        self._log.emit("INFO", "cluster.assigned", group=self.group, sinks=",".join(sorted(sinks)))
        self._listener.acquired(sinks)

    def _release(self, sinks: frozenset[str], reason: ReleaseReason) -> None:
        sinks = sinks & self._owned
        if not sinks:
            return
        lost = reason is ReleaseReason.LOST
        self._log.emit(
            "WARNING" if lost else "INFO",
            "cluster.lost" if lost else "cluster.revoked",
            group=self.group,
            sinks=",".join(sorted(sinks)),
            reason=reason.value,
            why=self._last_error if lost else None,
        )
        try:
            self._listener.released(sinks, reason)
        finally:
            with self._lock:
                self._owned = self._owned - sinks

    def _copy_identity(self) -> None:
        # On the membership thread only (see ``stats``).
        client = self._client
        if client is not None:
            self._member_id = client.member_id()
            self._generation = client.generation()

    def _on_revoke(self, topics: list[str]) -> None:
        self._rebalances += 1
        self._confirmed_at = time.monotonic()  # revoking is part of a live rebalance
        reason = ReleaseReason.LEAVING if self._stopping.is_set() else ReleaseReason.REBALANCE
        self._release(self._sinks(topics), reason)

    def _on_lost(self, topics: list[str]) -> None:
        self._rebalances += 1
        self._lose(self._sinks(topics), "the group reassigned them (session expired)")

    def _lose(self, sinks: frozenset[str], why: str) -> None:
        if sinks & self._owned:
            self._lost += 1
            self._last_error = why
        self._confirmed_at = None
        self._release(sinks, ReleaseReason.LOST)

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        client = self._client
        assert client is not None
        heartbeat = self.connection.heartbeat_interval_ms / 1000
        next_confirm = next_create = time.monotonic()
        try:
            while not self._stopping.is_set():
                client.poll(self._poll_interval)
                self._copy_identity()
                for error in client.take_client_errors():
                    if "UNKNOWN_TOPIC_OR_PART" in str(error):
                        continue  # the pattern matches no topic until the first sink's is made
                    if str(error) != self._last_error:  # once per change, not per retry
                        self._log.emit("WARNING", "cluster.client_error", error=str(error))
                    self._last_error = str(error)
                now = time.monotonic()
                if self._owned and now >= next_confirm:
                    next_confirm = now + heartbeat
                    self._confirm(client, now)
                if now >= next_create:
                    next_create = now + 5.0
                    self._create_missing(timeout=heartbeat)
        except PermanentError as exc:
            self._failure = exc
            self._last_error = str(exc)
            self._log.emit("ERROR", "cluster.failed", group=self.group, error=str(exc))
            self._lose(self._owned, str(exc))
        finally:
            client.close()  # leaves the group; revokes (and stops) what is still owned
            self._release(self._owned, ReleaseReason.LEAVING)

    def _confirm(self, client: kafka_group.GroupClient, sent: float) -> None:
        try:
            client.confirm()  # bounded by the client's own request timeout
        except kafka_group.NotAMember as exc:
            self._lose(self._owned, f"no longer a member of the group: {exc}")
            return
        except kafka_group.Rebalancing:
            return  # proves nothing; librdkafka calls on_lost if the group moved on
        except TemporaryError as exc:
            self._last_error = str(exc)
            if not self.lease_valid() and self._owned:
                self._lose(
                    self._owned,
                    "the coordination cluster was out of reach for longer than the "
                    f"session timeout ({exc})",
                )
            return
        self._confirmed_at = sent
        self._last_error = None  # confirmed: whatever went wrong before is over
