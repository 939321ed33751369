"""Watching what a sink produces (``sinks tap``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from engine.adapters.kafka.auth import AUTHENTICATION_KEYS
from engine.adapters.kafka.errors import CLIENT_LOGGER, classify, translate
from engine.adapters.kafka.producer import producer_config
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.settings import SinkSettings

# --------------------------------------------------------------------------------------
# Watching what a sink produces (`sinks tap`). Kept apart from the producer:
# nothing on the delivery path uses it. The consumer joins no group and commits
# nothing: it is assigned every partition of the topic at the offsets that were the
# end when it started, so it sees messages written from then on and nothing else. A
# topic that does not exist yet is waited for and then read from its beginning (the
# sink's first message creates it, so all of it is new).
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadBack:
    """One consumed message: where it landed, key, value and headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


# Producer keys that say how to reach and authenticate to the brokers; a consumer
# of the same cluster takes them unchanged.
_CONNECTION_KEYS = (
    "bootstrap.servers",
    *AUTHENTICATION_KEYS,
    "broker.address.family",
    "reconnect.backoff.max.ms",
)
# "The brokers did not answer": worth trying again later, whatever librdkafka flags.
_UNREACHABLE = frozenset(
    {KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN}
)
_NO_TOPIC = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})


def tap_config(settings: SinkSettings, *, client_id: str = "sinks-tap") -> dict[str, Any]:
    """librdkafka consumer settings reaching the brokers exactly as the sink's producer does."""
    produced = producer_config(settings, client_id=client_id)
    config = {key: produced[key] for key in _CONNECTION_KEYS if key in produced}
    config.update(
        {
            "client.id": client_id,
            # required by the client even without subscribe(); never joined or committed
            "group.id": f"{client_id}-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "allow.auto.create.topics": False,  # a tap must not create the sink's topic
        }
    )
    return config


class Tap:
    """Messages written to the sink's topic after ``start()`` returned, in arrival order.

    ``start`` and ``poll`` raise ``TemporaryError`` when the brokers cannot be reached
    and ``PermanentError`` when the client is refused (authentication, authorisation).
    """

    def __init__(
        self, settings: SinkSettings, *, client_id: str = "sinks-tap", topic: str | None = None
    ) -> None:
        from confluent_kafka import Consumer

        # ``topic``: one of the topics of a sink whose topic has placeholders.
        self.topic = topic or settings.topic
        self.waiting_for_topic = False
        config = tap_config(settings, client_id=client_id)
        config.setdefault("logger", logging.getLogger(f"{CLIENT_LOGGER}.{client_id}"))
        try:
            self._consumer: Any = Consumer(config)
        except (KafkaException, ValueError, TypeError) as exc:
            raise PermanentError(f"kafka: invalid consumer configuration: {exc}") from exc

    def _partitions(self, timeout: float) -> list[int] | None:
        """The topic's partitions, or None when it does not exist (yet)."""
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=timeout)
        except KafkaException as exc:
            raise _tap_error(exc) from exc
        found = metadata.topics.get(self.topic)
        if found is None or (found.error is not None and found.error.code() in _NO_TOPIC):
            return None
        if found.error is not None:
            raise classify(found.error)
        return sorted(found.partitions)

    def _assign(self, offsets: Mapping[int, int]) -> None:
        from confluent_kafka import TopicPartition

        try:
            self._consumer.assign([TopicPartition(self.topic, p, o) for p, o in offsets.items()])
        except KafkaException as exc:
            raise _tap_error(exc) from exc

    def start(self, timeout: float = 15.0) -> dict[int, int]:
        """Assign every partition at its current end; {partition: offset}, empty while the
        topic does not exist (``waiting_for_topic``)."""
        from confluent_kafka import TopicPartition

        partitions = self._partitions(timeout)
        if partitions is None:
            self.waiting_for_topic = True
            return {}
        offsets: dict[int, int] = {}
        try:
            for partition in partitions:
                _low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=timeout, cached=False
                )
                offsets[partition] = int(high)
        except KafkaException as exc:
            raise _tap_error(exc) from exc
        self._assign(offsets)
        return offsets

    def poll(self, timeout: float) -> ReadBack | None:
        """The next message, or None when none arrived within ``timeout`` seconds."""
        if self.waiting_for_topic:
            partitions = self._partitions(timeout)
            if partitions is None:
                return None
            self._assign({p: 0 for p in partitions})
            self.waiting_for_topic = False
        try:
            msg = self._consumer.poll(timeout)
        except KafkaException as exc:
            raise _tap_error(exc) from exc
        if msg is None:
            return None
        error = msg.error()
        if error is not None:
            raise _tap_error(KafkaException(error))
        raw: list[Any] = list(msg.headers() or [])
        return ReadBack(
            msg.topic() or self.topic,
            msg.partition() or 0,
            msg.offset() or 0,
            msg.key(),
            msg.value(),
            tuple((str(h[0]), bytes(h[1] or b"")) for h in raw),
            msg.timestamp()[1],
        )

    def close(self) -> None:
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()


def _tap_error(exc: KafkaException) -> EngineError:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError) and error.code() in _UNREACHABLE:
        return TemporaryError(f"kafka: the brokers did not answer: {error.str()}")
    return translate(exc)
