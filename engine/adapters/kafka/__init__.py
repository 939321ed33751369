"""The engine's only door to Apache Kafka (confluent-kafka / librdkafka).

This package is the one place that imports confluent_kafka (import-linter checks it):
``producer`` (a sink's producer), ``auth`` (authentication settings into librdkafka
keys, for sinks and group members alike), ``errors`` (client errors into
``engine.specification.errors``), ``group`` (the consumer group of cluster mode),
``tap`` (``sinks tap``).
``checkpoints`` keeps the exactly-once mode's checkpoint topic.

What this module guarantees:

* ``producer_config(settings)`` maps a sink's settings to librdkafka keys, one
  row per setting as in the table below (also in ``schema/producer-config.md``).
* ``KafkaProducer.produce`` never loses a message to a full local queue: a
  ``BufferError`` is backpressure, so it serves delivery reports and retries the
  same message until it is queued.
* Every delivery report reaches the caller as ``on_ok(token)`` or
  ``on_error(token, error)`` with an ``engine.specification.errors`` error, so no other module
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

Error classification (``classify``): the transient codes of KurrentDB's connector
(``_ALL_BROKERS_DOWN``, ``OUT_OF_ORDER_SEQUENCE_NUMBER``,
``TRANSACTION_COORDINATOR_FENCED``, ``UNKNOWN_PRODUCER_ID``) plus two that only
mean "the broker could not be reached in time" (``_MSG_TIMED_OUT``,
``_TRANSPORT``), the engine's own purge of messages queued behind a failed one
(``_PURGE_QUEUE``, ``_PURGE_INFLIGHT``) and any error librdkafka flags retriable become
``TemporaryError``; everything else (message too large, authorisation, unknown
topic, fatal producer state, ...) becomes ``PermanentError``.
"""

from engine.adapters.kafka.checkpoints import (
    checkpoint_client_config,
    ensure_checkpoint_topic,
    read_latest_checkpoint,
)
from engine.adapters.kafka.errors import (
    BROKEN_CODES,
    CLIENT_LOGGER,
    FENCED_CODES,
    REFUSED_CODES,
    SINK_CLIENT_PREFIX,
    TRANSIENT_CODES,
    Fenced,
    Refused,
    TransactionAborted,
    classify,
)
from engine.adapters.kafka.producer import KafkaProducer, producer_config
from engine.adapters.kafka.tap import ReadBack, Tap, tap_config
from engine.adapters.kafka.topics import TopicProvisioner

__all__ = [
    "BROKEN_CODES",
    "CLIENT_LOGGER",
    "FENCED_CODES",
    "REFUSED_CODES",
    "SINK_CLIENT_PREFIX",
    "TRANSIENT_CODES",
    "Fenced",
    "KafkaProducer",
    "ReadBack",
    "Refused",
    "Tap",
    "TopicProvisioner",
    "TransactionAborted",
    "checkpoint_client_config",
    "classify",
    "ensure_checkpoint_topic",
    "producer_config",
    "read_latest_checkpoint",
    "tap_config",
]
