"""The exactly-once mode's checkpoint topic: creating it and reading a sink's last checkpoint.

In ``delivery:guarantee exactlyOnce`` each sink's transactional producer writes one
record per transaction into the compacted topic ``CHECKPOINT_TOPIC``, keyed by the
sink name, so the messages and the position they reach commit or abort together.

Guarantees:

* ``ensure_checkpoint_topic`` leaves a topic with one partition and
  ``cleanup.policy=compact`` (short segments and a low dirty ratio, so the part a
  reader scans stays short). A topic of that name that exists with another policy
  (``delete`` would throw checkpoints away) or several partitions is refused with a
  ``PermanentError`` naming it, never written into.
* ``read_latest_checkpoint`` returns the value of the last *committed* record with
  the key written before the call, or None when there is none (a tombstone counts as
  none). Records of aborted transactions are never returned.
* Brokers that do not answer give ``TemporaryError``; refusals (authorisation, an
  invalid configuration, a missing topic) give ``PermanentError``.

Why the read stops at the high watermark ``h0`` taken first (read_uncommitted): a
``read_committed`` consumer is only served up to the last stable offset (LSO), the
first offset of the oldest transaction still open in the partition. Every sink
writes into this one partition, so another sink's open transaction can hold the LSO
below our own newest committed checkpoint; reading "to the end" would then return an
older checkpoint and the sink would send its events again. So the reader consumes
with ``read_committed`` until its *position* reaches ``h0``: everything written
before the call has then been decided. Positions, not record offsets, are compared:
transaction markers take offsets and are never delivered, and librdkafka moves the
position past them. An open transaction that does not end within ``timeout`` gives a
``TemporaryError``; the broker aborts an abandoned one after its
``transaction.timeout.ms``. The sink's own previous producer is no such case: the
caller's ``init_transactions`` aborts its open transaction before it reads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
)

from engine.adapters.kafka.errors import CLIENT_LOGGER, classify
from engine.adapters.kafka.producer import producer_config
from engine.adapters.kafka.tap import _CONNECTION_KEYS
from engine.specification.constants import CHECKPOINT_TOPIC
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.settings import SinkSettings

CLIENT_ID = "sinks-checkpoints"
# Topic settings for a new checkpoint topic: roll a segment every 10 minutes and clean
# once a tenth of the log is superseded, so the uncompacted head a reader scans at
# start holds minutes of checkpoints, not days.
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
}
_UNREACHABLE = frozenset(
    {KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN}
)
# list_offsets reports a topic the cluster does not know as _NOENT, metadata as
# UNKNOWN_TOPIC_OR_PART.
_NO_TOPIC = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._NOENT}
)
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
_POLL_S = 0.2  # longest single wait, so the deadline is checked often


def checkpoint_client_config(settings: SinkSettings) -> dict[str, Any]:
    """How the sink's producer reaches and authenticates to the brokers, and nothing else."""
    produced = producer_config(settings)
    return {key: produced[key] for key in _CONNECTION_KEYS if key in produced}


def ensure_checkpoint_topic(
    config: Mapping[str, Any], timeout: float, topic: str = CHECKPOINT_TOPIC
) -> None:
    """Create ``topic`` compacted with one partition unless it exists; refuse one that
    exists in another shape (see the module docstring)."""
    deadline = time.monotonic() + timeout
    admin = _admin(config)
    partitions = _partition_count(admin, topic, timeout)
    if partitions is None:
        new = NewTopic(topic, num_partitions=1, config=dict(TOPIC_CONFIG))
        future = admin.create_topics([new], operation_timeout=timeout, request_timeout=timeout)
        try:
            future[topic].result()
        except KafkaException as exc:
            if _code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:  # else: created meanwhile
                raise _error(exc, f"create topic '{topic}'") from exc
        partitions = _wait_for_leader(admin, topic, deadline)
    if partitions != 1:
        raise PermanentError(
            f"kafka: checkpoint topic '{topic}' has {partitions} partitions; "
            "exactly-once needs it with 1 partition"
        )
    policy = _cleanup_policy(admin, topic, timeout)
    if policy != "compact":
        raise PermanentError(
            f"kafka: checkpoint topic '{topic}' has cleanup.policy={policy}; exactly-once "
            "needs cleanup.policy=compact (any other policy deletes checkpoints)"
        )


def read_latest_checkpoint(
    config: Mapping[str, Any], key: str, timeout: float, topic: str = CHECKPOINT_TOPIC
) -> bytes | None:
    """The value of the last committed record with ``key`` written before this call."""
    deadline = time.monotonic() + timeout
    admin = _admin(config)
    h0 = _offset(admin, topic, _LATEST, IsolationLevel.READ_UNCOMMITTED, timeout)
    if h0 == 0:
        return None  # nothing was ever written
    low = _offset(admin, topic, _EARLIEST, IsolationLevel.READ_UNCOMMITTED, timeout)
    if h0 <= low:
        return None  # everything written is gone
    consumer = _consumer(config)
    try:
        value, position = _scan(consumer, topic, key.encode(), low, h0, deadline)
    finally:
        with contextlib.suppress(KafkaException, RuntimeError):
            consumer.close()
    if position < h0:
        stable = _stable_offset(admin, topic)
        raise TemporaryError(_stalled_text(topic, position, h0, stable, timeout))
    return value


def _scan(
    consumer: Any, topic: str, key: bytes, low: int, h0: int, deadline: float
) -> tuple[bytes | None, int]:
    """Consume from ``low`` until the position reaches ``h0`` or the deadline passes:
    the newest value for ``key`` before ``h0`` (None: none, or a tombstone) and the
    position reached."""
    partition = TopicPartition(topic, 0)
    value: bytes | None = None
    position = low
    try:
        consumer.assign([TopicPartition(topic, 0, low)])
        while position < h0 and time.monotonic() < deadline:
            wait = max(0.0, min(_POLL_S, deadline - time.monotonic()))
            for msg in consumer.consume(1000, wait):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise _error(KafkaException(error), f"read '{topic}'")
                # A record past h0 was written after the call began: not ours to see.
                if msg.offset() < h0 and msg.key() == key:
                    value = msg.value()
            # -1001 (no position yet) until the first record or marker is served.
            position = max(position, int(consumer.position([partition])[0].offset))
    except KafkaException as exc:
        raise _error(exc, f"read '{topic}'") from exc
    return value, position


def _stalled_text(topic: str, position: int, h0: int, stable: int | None, timeout: float) -> str:
    head = (
        f"kafka: checkpoint topic '{topic}': read_committed reached offset {position}, "
        f"not the end {h0} seen when the read began, within {timeout:g}s"
    )
    if stable is not None and stable < h0:
        return (
            f"{head}: another producer's transaction is still open at offset {stable}; "
            "try again (the broker aborts an abandoned transaction after its "
            "transaction.timeout.ms)"
        )
    return f"{head}: the brokers did not serve it in time; try again"


def _stable_offset(admin: AdminClient, topic: str) -> int | None:
    """The partition's last stable offset, or None when it cannot be had quickly."""
    try:
        return _offset(admin, topic, _LATEST, IsolationLevel.READ_COMMITTED, 5.0)
    except EngineError:
        return None


def _offset(admin: AdminClient, topic: str, spec: Any, isolation: Any, timeout: float) -> int:
    request = {TopicPartition(topic, 0): spec}
    try:
        futures = admin.list_offsets(request, isolation_level=isolation, request_timeout=timeout)
        return int(next(iter(futures.values())).result().offset)
    except KafkaException as exc:
        raise _error(exc, f"offsets of '{topic}'") from exc


def _partition_count(admin: AdminClient, topic: str, timeout: float) -> int | None:
    """How many partitions ``topic`` has, or None when it does not exist."""
    try:
        found = admin.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise _error(exc, f"metadata of '{topic}'") from exc
    if found is None or (found.error is not None and found.error.code() in _NO_TOPIC):
        return None
    if found.error is not None:
        raise _error(KafkaException(found.error), f"metadata of '{topic}'")
    return len(found.partitions)


def _wait_for_leader(admin: AdminClient, topic: str, deadline: float) -> int:
    """The partition count of a just-created topic once every partition has a leader, so
    the first transaction that writes into it does not race the controller."""
    while True:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            found = admin.list_topics(topic, timeout=remaining).topics.get(topic)
        except KafkaException as exc:
            raise _error(exc, f"metadata of '{topic}'") from exc
        if (
            found is not None
            and found.error is None
            and found.partitions
            and all(p.leader >= 0 for p in found.partitions.values())
        ):
            return len(found.partitions)
        if time.monotonic() >= deadline:
            raise TemporaryError(f"kafka: checkpoint topic '{topic}' has no leader yet")
        time.sleep(0.1)


def _cleanup_policy(admin: AdminClient, topic: str, timeout: float) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        futures = admin.describe_configs([resource], request_timeout=timeout)
        entries = next(iter(futures.values())).result()
    except KafkaException as exc:
        raise _error(exc, f"configuration of '{topic}'") from exc
    entry = entries.get("cleanup.policy")
    return str(entry.value) if entry is not None else "delete"


def _admin(config: Mapping[str, Any]) -> AdminClient:
    settings = dict(config)
    settings.setdefault("client.id", CLIENT_ID)
    settings.setdefault("logger", logging.getLogger(f"{CLIENT_LOGGER}.{settings['client.id']}"))
    # An admin client asks for metadata as a producer, which by default lets a broker
    # with auto.create.topics.enable create the topic asked about, with the broker's
    # (deleting) cleanup policy: the one thing this module must never do.
    settings["allow.auto.create.topics"] = False
    try:
        return AdminClient(settings)
    except (KafkaException, ValueError, TypeError) as exc:
        raise PermanentError(f"kafka: invalid client configuration: {exc}") from exc


def _consumer(config: Mapping[str, Any]) -> Any:
    settings = dict(config)
    settings.setdefault("client.id", CLIENT_ID)
    settings.setdefault("logger", logging.getLogger(f"{CLIENT_LOGGER}.{settings['client.id']}"))
    settings.update(
        {
            # required by the client even with assign(); never joined or committed
            "group.id": f"{settings['client.id']}-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
        }
    )
    try:
        return Consumer(settings)
    except (KafkaException, ValueError, TypeError) as exc:
        raise PermanentError(f"kafka: invalid consumer configuration: {exc}") from exc


def _code(exc: KafkaException) -> int | None:
    error = exc.args[0] if exc.args else None
    return int(error.code()) if isinstance(error, KafkaError) else None


def _error(exc: KafkaException, what: str) -> EngineError:
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return PermanentError(f"kafka: {what}: {exc}")
    if error.code() in _UNREACHABLE:
        return TemporaryError(f"kafka: {what}: the brokers did not answer: {error.str()}")
    if error.code() in _NO_TOPIC:
        return PermanentError(f"kafka: {what}: the topic does not exist")
    kind = type(classify(error))  # keeps Fenced / Refused / Temporary / Permanent
    return kind(f"kafka: {what}: {error.name()}: {error.str()}")
