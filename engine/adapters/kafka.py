"""The engine's only door to Apache Kafka (confluent-kafka / librdkafka).

What this module guarantees:

* ``producer_config(settings)`` maps a sink's settings to librdkafka keys, one
  row per setting as in the table below (also in ``schema/producer-config.md``).
* ``KafkaProducer.produce`` never loses a message to a full local queue: a
  ``BufferError`` is backpressure, so it serves delivery reports and retries the
  same message until it is queued.
* Every delivery report reaches the caller as ``on_ok(token)`` or
  ``on_error(token, error)`` with an ``engine.errors`` error, so no other module
  sees a librdkafka type.
* librdkafka's own log lines go to the Python logger ``engine.kafka.<client id>``
  (delivered by ``poll``), never raw to stderr; ``sinks run`` writes them into its
  event log as ``kafka.client`` lines.

Producer configuration (sink setting → librdkafka key):

======================================  =============================================
setting                                 librdkafka
======================================  =============================================
bootstrapServers                        bootstrap.servers
authentication:securityProtocol         security.protocol (plaintext, ssl,
                                        sasl_plaintext, sasl_ssl)
authentication:saslMechanism            sasl.mechanism (PLAIN, SCRAM-SHA-256,
                                        SCRAM-SHA-512); only with a SASL protocol
authentication:username / password      sasl.username / sasl.password (SASL only)
authentication:caFile                   ssl.ca.location (Ssl/SaslSsl); without it
                                        ``probe``: the wheels link OpenSSL statically,
                                        so the system trust store is found by probing
                                        the usual paths
compression:type / compression:level    compression.type / compression.level
brokerAddressFamily                     broker.address.family (any, v4, v6)
resilience:reconnectBackoffMaxMs        reconnect.backoff.max.ms
resilience:messageSendMaxRetries        message.send.max.retries
resilience:requestTimeoutMs             request.timeout.ms
waitForBrokerAck true                   acks=all, enable.idempotence=true
waitForBrokerAck false                  acks=1, enable.idempotence=false
======================================  =============================================

Error classification (``classify``): the seed's transient codes
(``_ALL_BROKERS_DOWN``, ``OUT_OF_ORDER_SEQUENCE_NUMBER``,
``TRANSACTION_COORDINATOR_FENCED``, ``UNKNOWN_PRODUCER_ID``) plus two that only
mean "the broker could not be reached in time" (``_MSG_TIMED_OUT``,
``_TRANSPORT``), the engine's own purge of messages queued behind a failed one
(``_PURGE_QUEUE``, ``_PURGE_INFLIGHT``) and any error librdkafka flags retriable become
``TemporaryError``; everything else (message too large, authorisation, unknown
topic, fatal producer state, ...) becomes ``PermanentError``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from engine.errors import EngineError, PermanentError, TemporaryError
from engine.model import Message
from engine.settings import SaslMechanism, SecurityProtocol, SinkSettings

CLIENT_LOGGER = "engine.kafka"  # parent of one logger per producer, named by client id
SINK_CLIENT_PREFIX = "kafka-sink-"  # a sink's producer is client id <prefix><sink name>

_PROTOCOLS = {
    SecurityProtocol.PLAINTEXT: "plaintext",
    SecurityProtocol.SSL: "ssl",
    SecurityProtocol.SASL_PLAINTEXT: "sasl_plaintext",
    SecurityProtocol.SASL_SSL: "sasl_ssl",
}
_MECHANISMS = {
    SaslMechanism.PLAIN: "PLAIN",
    SaslMechanism.SCRAM_SHA_256: "SCRAM-SHA-256",
    SaslMechanism.SCRAM_SHA_512: "SCRAM-SHA-512",
}

TRANSIENT_CODES: frozenset[int] = frozenset(
    {
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.TRANSACTION_COORDINATOR_FENCED,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        # Reported for messages the engine itself dropped from the queue behind a
        # failed one (``purge_queue``): they are sent again with the window.
        KafkaError._PURGE_QUEUE,
        KafkaError._PURGE_INFLIGHT,
    }
)

# Client-level errors after which no message of this producer can be delivered.
BROKEN_CODES: frozenset[int] = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError._SSL,
    }
)


def producer_config(settings: SinkSettings, *, client_id: str = "kafka-sink") -> dict[str, Any]:
    """librdkafka configuration for one sink (see the module table)."""
    protocol = settings.security_protocol
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        "security.protocol": _PROTOCOLS[protocol],
        "compression.type": settings.compression_type.value.lower(),
        "broker.address.family": settings.broker_address_family.value.lower(),
        "reconnect.backoff.max.ms": settings.reconnect_backoff_max_ms,
        "message.send.max.retries": settings.message_send_max_retries,
        "request.timeout.ms": settings.request_timeout_ms,
    }
    # librdkafka rejects a level for the "none" codec only at first use; leave it out.
    if config["compression.type"] != "none":
        config["compression.level"] = settings.compression_level
    if protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        config["sasl.mechanism"] = _MECHANISMS[settings.sasl_mechanism]
        if settings.username is not None:
            config["sasl.username"] = settings.username
        if settings.password is not None:
            config["sasl.password"] = settings.password
    if protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        config["ssl.ca.location"] = settings.ca_file or "probe"
    if settings.wait_for_broker_ack:
        config["acks"] = "all"
        config["enable.idempotence"] = True
    else:
        config["acks"] = "1"
        config["enable.idempotence"] = False
    return config


def classify(error: KafkaError) -> EngineError:
    """Translate one librdkafka error into TemporaryError or PermanentError."""
    text = f"kafka: {error.name()}: {error.str()}"
    # A fatal error with a transient code (an idempotence sequence gap) is cured by
    # a new producer, which the worker makes before every retry.
    if error.code() in TRANSIENT_CODES:
        return TemporaryError(text)
    if error.fatal():
        return PermanentError(text + " (fatal producer error)")
    if error.retriable():
        return TemporaryError(text)
    return PermanentError(text)


class KafkaProducer:
    """One librdkafka producer; delivery reports go to ``on_ok`` / ``on_error``.

    Reports are served by ``poll``/``flush`` on whichever thread calls them.
    """

    def __init__(
        self,
        settings: SinkSettings,
        on_ok: Callable[[int], None],
        on_error: Callable[[int, EngineError], None],
        *,
        client_id: str = "kafka-sink",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        config = producer_config(settings, client_id=client_id)
        config.update(extra or {})
        self._on_ok = on_ok
        self._on_error = on_error
        self._closed = False
        self._errors: list[EngineError] = []
        # Set when this producer cannot deliver anything any more: a fatal error, or
        # credentials/authorisation the broker refuses (librdkafka would otherwise
        # keep retrying until every message times out).
        self.broken: EngineError | None = None
        config["error_cb"] = self._on_client_error
        # librdkafka's own log lines go through Python logging (served by poll), so
        # a running engine writes them in its log format instead of raw to stderr.
        config.setdefault("logger", logging.getLogger(f"{CLIENT_LOGGER}.{client_id}"))
        self._producer: Any
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise PermanentError(f"kafka: invalid producer configuration: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise PermanentError(f"kafka: invalid producer configuration: {exc}") from exc

    def _on_client_error(self, error: KafkaError) -> None:
        # Client-level errors (all brokers down, authentication) are informative;
        # librdkafka keeps retrying. Only fatal ones make the producer unusable.
        translated = classify(error)
        if self.broken is None and (error.fatal() or error.code() in BROKEN_CODES):
            self.broken = translated
        self._errors.append(translated)
        del self._errors[:-20]  # keep the recent ones only

    def take_client_errors(self) -> list[EngineError]:
        """Client-level errors reported since the last call (oldest first)."""
        errors, self._errors = self._errors, []
        return errors

    def _report(self, token: int, error: KafkaError | None, _msg: Any) -> None:
        if error is None:
            self._on_ok(token)
        else:
            self._on_error(token, classify(error))

    def produce(self, message: Message, token: int) -> None:
        """Queue one message; waits (serving reports) while the local queue is full."""
        callback = partial(self._report, token)
        headers: list[tuple[str, str | bytes | None]] = list(message.headers)
        produce = self._producer.produce
        while True:
            try:
                produce(
                    message.topic,
                    message.value,
                    message.key,
                    headers=headers,
                    timestamp=message.timestamp_ms,
                    on_delivery=callback,
                )
                return
            except BufferError:
                self.poll(0.05)
            except KafkaException as exc:
                raise _translate(exc) from exc

    def poll(self, timeout: float = 0.0) -> int:
        try:
            return int(self._producer.poll(timeout))
        except KafkaException as exc:
            raise _translate(exc) from exc

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for outstanding deliveries; returns how many remain."""
        try:
            return int(self._producer.flush(timeout))
        except KafkaException as exc:
            raise _translate(exc) from exc

    def purge_queue(self) -> None:
        """Fail every message not yet sent (reported as purged), so none of them can
        reach the broker after an earlier one failed; sent ones still get reports."""
        with contextlib.suppress(KafkaException):
            self._producer.purge(in_queue=True, in_flight=False, blocking=False)

    def pending(self) -> int:
        return len(self._producer)

    def close(self, timeout: float = 5.0) -> int:
        """Flush for a bounded time, then let the client go (no more reconnects).

        Messages still queued afterwards are abandoned; returns how many.
        """
        if self._closed:
            return 0
        try:
            remaining = int(self._producer.flush(timeout))
        except KafkaException:
            remaining = len(self._producer)
        self._closed = True
        # Break the cycle client → callbacks → self so the client's threads end now,
        # not whenever the garbage collector gets to it.
        self._producer = _ClosedProducer()
        self._on_ok = _ignore_ok
        self._on_error = _ignore_error
        return remaining


class _ClosedProducer:
    """Stands in for a closed client: nothing queued, nothing to report."""

    def produce(self, *_args: Any, **_kwargs: Any) -> None:
        raise PermanentError("kafka: the producer is closed")

    def poll(self, _timeout: float = 0.0) -> int:
        return 0

    def flush(self, _timeout: float = 0.0) -> int:
        return 0

    def purge(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def __len__(self) -> int:
        return 0


def _ignore_ok(_token: int) -> None:
    """Reports after close are of no interest."""


def _ignore_error(_token: int, _error: EngineError) -> None:
    """Reports after close are of no interest."""


def _translate(exc: KafkaException) -> EngineError:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return classify(error)
    return PermanentError(f"kafka: {exc}")


# --------------------------------------------------------------------------------------
# Watching what a sink produces (`sinks tap`). Kept apart from the producer above:
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
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
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
    """Messages written to ``settings.topic`` after ``start()`` returned, in arrival order.

    ``start`` and ``poll`` raise ``TemporaryError`` when the brokers cannot be reached
    and ``PermanentError`` when the client is refused (authentication, authorisation).
    """

    def __init__(self, settings: SinkSettings, *, client_id: str = "sinks-tap") -> None:
        from confluent_kafka import Consumer

        self.topic = settings.topic
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
    return _translate(exc)
