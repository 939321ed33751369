"""librdkafka's errors translated into the engine's own (``engine.specification.errors``).

The transient codes of KurrentDB's connector (``_ALL_BROKERS_DOWN``,
``OUT_OF_ORDER_SEQUENCE_NUMBER``, ``TRANSACTION_COORDINATOR_FENCED``,
``UNKNOWN_PRODUCER_ID``) plus two that only mean
"the broker could not be reached in time" (``_MSG_TIMED_OUT``, ``_TRANSPORT``), the
engine's own purge of messages queued behind a failed one (``_PURGE_QUEUE``,
``_PURGE_INFLIGHT``) and any error librdkafka flags retriable become
``TemporaryError``. A producer fenced by a newer one with the same transactional id
becomes ``Fenced``; a message the broker refuses for good (too large, an invalid
record) becomes ``Refused``, a ``PermanentError``. Everything else (authorisation,
unknown topic, fatal producer state, ...) becomes ``PermanentError``.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from engine.specification.errors import EngineError, PermanentError, TemporaryError

CLIENT_LOGGER = "engine.kafka"  # parent of one logger per producer, named by client id
SINK_CLIENT_PREFIX = "kafka-sink-"  # a sink's producer is client id <prefix><sink name>


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


# A newer producer with the same transactional id took over (cluster mode: the sink
# moved to another member while this one was away).
FENCED_CODES: frozenset[int] = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    }
)
# The broker refuses this one message for good, whatever is retried: a poison event
# (errors:tolerance decides what happens to it).
REFUSED_CODES: frozenset[int] = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_TIMESTAMP,
    }
)
FENCED_TEXT = "kafka: this producer was fenced: another owner of the sink took over"


class Fenced(PermanentError):
    """A newer producer with this sink's transactional id exists: stop, never retry."""


class Refused(PermanentError):
    """The broker refused this message for good (too large, an invalid record)."""


class TransactionAborted(TemporaryError):
    """The open transaction could not commit and was aborted: send it again."""


def classify(error: KafkaError) -> EngineError:
    """Translate one librdkafka error into TemporaryError or PermanentError."""
    text = f"kafka: {error.name()}: {error.str()}"
    if error.code() in FENCED_CODES:
        return Fenced(f"{FENCED_TEXT} ({error.name()})")
    # A fatal error with a transient code (an idempotence sequence gap) is cured by
    # a new producer, which the worker makes before every retry.
    if error.code() in TRANSIENT_CODES:
        return TemporaryError(text)
    if error.fatal():
        return PermanentError(text + " (fatal producer error)")
    if error.code() in REFUSED_CODES:
        return Refused(text)
    if error.retriable():
        return TemporaryError(text)
    return PermanentError(text)


def translate(exc: KafkaException) -> EngineError:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return classify(error)
    return PermanentError(f"kafka: {exc}")
