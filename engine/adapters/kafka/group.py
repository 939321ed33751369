"""The Kafka consumer-group client behind cluster mode (confluent-kafka's Consumer).

Guarantees:

* ``GroupClient`` joins the consumer group with the cooperative-sticky assignor and a
  regex subscription over the group's control topics. Its callbacks receive topic
  names only and run on the thread that calls ``poll`` or ``close``, never on one of
  librdkafka's threads; ``close`` leaves the group, so the revoke callback runs (and
  the sinks stop) before the group hands them to another member.
* ``confirm`` proves, with a synchronous offset commit, that the broker still counts
  this member in the current generation. A member frozen past its session timeout
  fails this (``NotAMember``), so it can stop its sinks instead of trusting a stale
  assignment.
* Every client error leaves as ``TemporaryError`` (the cluster may come back) or
  ``PermanentError`` (credentials, authorisation, invalid configuration).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from engine.adapters.kafka.auth import authentication_config
from engine.adapters.kafka.errors import BROKEN_CODES
from engine.specification.connection import ClusterConnection
from engine.specification.errors import EngineError, PermanentError, TemporaryError

TopicsCallback = Callable[[list[str]], None]
GROUP_LOGGER = "engine.kafka.group"

# Commit errors meaning "the broker no longer counts you as a member".
_NOT_A_MEMBER = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.FENCED_INSTANCE_ID,
        KafkaError._ASSIGNMENT_LOST,
    }
)
# Commit errors seen by a healthy member while the group rebalances: they prove
# nothing either way.
_REBALANCING = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._WAIT_COORD,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_COORDINATOR,
    }
)


class NotAMember(TemporaryError):
    """The group moved on without this member (its session expired)."""


class Rebalancing(TemporaryError):
    """The group is rebalancing; membership could not be confirmed just now."""


def client_config(connection: ClusterConnection) -> dict[str, Any]:
    """librdkafka keys for reaching the coordination cluster."""
    return {"bootstrap.servers": connection.bootstrap, **authentication_config(connection)}


def _error(exc: KafkaException | KafkaError, what: str) -> EngineError:
    error = exc if isinstance(exc, KafkaError) else (exc.args[0] if exc.args else None)
    if not isinstance(error, KafkaError):
        return PermanentError(f"kafka group: {what}: {exc}")
    text = f"kafka group: {what}: {error.name()}: {error.str()}"
    if error.code() in _NOT_A_MEMBER:
        return NotAMember(text)
    if error.code() in _REBALANCING:
        return Rebalancing(text)
    if error.code() in BROKEN_CODES or error.fatal():
        return PermanentError(text)
    return TemporaryError(text)


class GroupClient:
    """One member's seat in the consumer group that shares the sinks."""

    def __init__(
        self,
        connection: ClusterConnection,
        *,
        group_id: str,
        client_id: str,
        pattern: str,
        on_assign: TopicsCallback,
        on_revoke: TopicsCallback,
        on_lost: TopicsCallback,
        metadata_refresh_ms: int = 2000,
    ) -> None:
        config = client_config(connection)
        config.update(
            {
                "group.id": group_id,
                "client.id": client_id,
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": connection.session_timeout_ms,
                "heartbeat.interval.ms": connection.heartbeat_interval_ms,
                # New sinks' topics are found by the regex after a metadata refresh.
                "topic.metadata.refresh.interval.ms": metadata_refresh_ms,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "latest",
                "logger": logging.getLogger(GROUP_LOGGER),
                "error_cb": self._on_client_error,
            }
        )
        self._errors: list[EngineError] = []
        self._owned: set[str] = set()
        self._callbacks = (on_assign, on_revoke, on_lost)
        try:
            self._consumer = Consumer(config)
            self._consumer.subscribe(
                [pattern], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
            )
        except KafkaException as exc:
            raise _error(exc, "cannot join the group") from exc
        except (ValueError, TypeError) as exc:
            raise PermanentError(f"kafka group: invalid configuration: {exc}") from exc

    def _on_client_error(self, error: KafkaError) -> None:
        self._errors.append(_error(error, "client"))
        del self._errors[:-20]

    def take_client_errors(self) -> list[EngineError]:
        errors, self._errors = self._errors, []
        return errors

    def _assigned(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        topics = [p.topic for p in partitions]
        self._owned.update(topics)
        self._callbacks[0](topics)

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        topics = [p.topic for p in partitions]
        try:
            self._callbacks[1](topics)
        finally:
            self._owned.difference_update(topics)

    def _lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        topics = [p.topic for p in partitions]
        try:
            self._callbacks[2](topics)
        finally:
            self._owned.difference_update(topics)

    def poll(self, timeout: float) -> None:
        """Serve the group's callbacks for up to ``timeout`` seconds."""
        try:
            message = self._consumer.poll(timeout)
        except KafkaException as exc:
            raise _error(exc, "poll") from exc
        error = message.error() if message is not None else None
        if error is not None:
            if error.fatal():
                raise _error(error, "poll")
            self._errors.append(_error(error, "poll"))

    def confirm(self) -> None:
        """Raise ``NotAMember`` unless the broker still counts this member.

        Commits offset 0 of one owned control topic (the topics hold no data), which
        the group coordinator accepts only from a member of the current generation.
        """
        if not self._owned:
            return
        topic = min(self._owned)
        try:
            self._consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        except KafkaException as exc:
            raise _error(exc, "membership check") from exc

    @property
    def owned_topics(self) -> frozenset[str]:
        return frozenset(self._owned)

    def generation(self) -> int | None:
        """The group generation this member last joined, when the client tells it.

        confluent-kafka exposes it only inside the serialised group metadata
        (``CGMDv2:`` then the generation as a native 32-bit integer); anything else
        gives None rather than a guess.
        """
        try:
            raw = self._consumer.consumer_group_metadata()
        except (KafkaException, RuntimeError):
            return None
        magic = b"CGMDv2:"
        if not isinstance(raw, bytes) or not raw.startswith(magic) or len(raw) < len(magic) + 4:
            return None
        generation = int.from_bytes(raw[len(magic) : len(magic) + 4], sys.byteorder, signed=True)
        return generation if generation >= 0 else None

    def member_id(self) -> str | None:
        try:
            member = self._consumer.memberid()
        except (KafkaException, RuntimeError):
            return None
        return str(member) if member else None

    def close(self) -> None:
        """Leave the group (revokes everything through the callback first)."""
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()


@dataclass(frozen=True)
class GroupMemberInfo:
    member_id: str
    client_id: str
    host: str
    topics: tuple[str, ...]


def _admin(connection: ClusterConnection) -> AdminClient:
    config = client_config(connection)
    config["logger"] = logging.getLogger(GROUP_LOGGER)
    return AdminClient(config)


def check_reachable(connection: ClusterConnection, timeout: float) -> None:
    """Raise ``TemporaryError`` naming the cluster when no broker answers in time."""
    try:
        _admin(connection).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TemporaryError(
            f"coordination cluster {connection.describe()} cannot be reached: "
            f"{_error(exc, 'metadata')}"
        ) from exc


def ensure_topics(connection: ClusterConnection, topics: Iterable[str], timeout: float) -> None:
    """Create the single-partition control topics that do not exist yet."""
    wanted = sorted(set(topics))
    if not wanted:
        return
    admin = _admin(connection)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise _error(exc, "list topics") from exc
    missing = [t for t in wanted if t not in existing]
    if not missing:
        return
    # Control topics carry no records; keep them tiny and never compacted away.
    new = [NewTopic(t, num_partitions=1, config={"retention.bytes": "1048576"}) for t in missing]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another member created it first
            raise _error(exc, f"create topic {topic}") from exc


def delete_topics(connection: ClusterConnection, topics: Sequence[str], timeout: float) -> None:
    if not topics:
        return
    futures = _admin(connection).delete_topics(list(topics), operation_timeout=timeout)
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise _error(exc, f"delete topic {topic}") from exc


def describe_group(
    connection: ClusterConnection, group_id: str, timeout: float
) -> list[GroupMemberInfo]:
    """The group's members as the coordinator sees them, with the topics each owns."""
    admin = _admin(connection)
    try:
        description = admin.describe_consumer_groups([group_id], request_timeout=timeout)[
            group_id
        ].result()
    except KafkaException as exc:
        raise _error(exc, "describe group") from exc
    members = []
    for member in description.members:
        assignment = member.assignment.topic_partitions if member.assignment else []
        members.append(
            GroupMemberInfo(
                member_id=member.member_id,
                client_id=member.client_id,
                host=member.host,
                topics=tuple(sorted({tp.topic for tp in assignment})),
            )
        )
    return members


def host_name() -> str:
    return socket.gethostname()
