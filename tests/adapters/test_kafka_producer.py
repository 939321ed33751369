"""The Kafka adapter against the real broker: delivery reports, backpressure, errors."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from engine.adapters.kafka import CLIENT_LOGGER, KafkaProducer
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings

pytestmark = pytest.mark.integration


class Reports:
    def __init__(self) -> None:
        self.ok: list[int] = []
        self.failed: list[tuple[int, EngineError]] = []

    def on_ok(self, token: int) -> None:
        self.ok.append(token)

    def on_error(self, token: int, error: EngineError) -> None:
        self.failed.append((token, error))


def settings(bootstrap: str, **extra: Any) -> SinkSettings:
    return SinkSettings.from_canonical({"topic": "unused", "bootstrapServers": bootstrap, **extra})


def message(topic: str, i: int, size: int = 10) -> Message:
    return Message(
        topic, b"key-%d" % (i % 3), b"x" * size, (("h", b"%d" % i),), 1_700_000_000_000 + i, i
    )


def test_messages_are_confirmed_in_order_with_their_fields(kafka_broker, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    reports = Reports()
    producer = KafkaProducer(settings(kafka_broker.bootstrap), reports.on_ok, reports.on_error)
    for i in range(50):
        producer.produce(message(topic, i), i)
    assert producer.flush(30) == 0
    assert reports.ok == list(range(50))
    got = kafka_broker.consume(topic, 50)
    assert [c.headers for c in got] == [[("h", b"%d" % i)] for i in range(50)]
    assert got[7].key == b"key-1"
    assert got[7].timestamp_ms == 1_700_000_000_007


def test_full_local_queue_is_backpressure_not_loss(kafka_broker, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    reports = Reports()
    producer = KafkaProducer(
        settings(kafka_broker.bootstrap),
        reports.on_ok,
        reports.on_error,
        extra={"queue.buffering.max.messages": 10, "linger.ms": 50},
    )
    for i in range(500):
        producer.produce(message(topic, i), i)
    assert producer.flush(30) == 0
    assert reports.ok == list(range(500))
    assert reports.failed == []


def test_too_large_message_is_permanent(kafka_broker, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic, config={"max.message.bytes": "2000"})
    reports = Reports()
    producer = KafkaProducer(
        settings(kafka_broker.bootstrap, **{"compression:type": "None"}),
        reports.on_ok,
        reports.on_error,
    )
    producer.produce(message(topic, 0, size=10), 0)
    producer.flush(30)  # a batch holding both would be refused as a whole
    producer.produce(message(topic, 1, size=50_000), 1)
    producer.flush(30)
    assert reports.ok == [0]
    assert len(reports.failed) == 1
    token, error = reports.failed[0]
    assert token == 1
    assert isinstance(error, PermanentError)
    assert "MSG_SIZE_TOO_LARGE" in str(error)


def test_unreachable_broker_times_out_as_temporary() -> None:
    reports = Reports()
    producer = KafkaProducer(
        settings("127.0.0.1:1"), reports.on_ok, reports.on_error, extra={"message.timeout.ms": 1500}
    )
    producer.produce(message("nowhere", 0), 0)
    producer.flush(10)
    assert len(reports.failed) == 1
    assert isinstance(reports.failed[0][1], TemporaryError)
    assert "_MSG_TIMED_OUT" in str(reports.failed[0][1])
    assert any(isinstance(e, TemporaryError) for e in producer.take_client_errors())


def test_invalid_configuration_is_permanent() -> None:
    with pytest.raises(PermanentError, match="invalid producer configuration"):
        KafkaProducer(settings("127.0.0.1:1"), print, print, extra={"no.such.key": 1})


def test_closed_producer_refuses_messages(kafka_broker, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    reports = Reports()
    producer = KafkaProducer(settings(kafka_broker.bootstrap), reports.on_ok, reports.on_error)
    producer.produce(message(topic, 0), 0)
    assert producer.close(30) == 0
    assert reports.ok == [0]
    assert producer.pending() == 0
    with pytest.raises(PermanentError, match="the producer is closed"):
        producer.produce(message(topic, 1), 1)


def test_client_log_lines_go_to_the_python_logger_not_stderr(capfd) -> None:  # type: ignore[no-untyped-def]
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger(f"{CLIENT_LOGGER}.log-test")
    keep = Keep()
    logger.addHandler(keep)
    try:
        # Nothing listens on port 1: librdkafka logs a failed connect at once.
        producer = KafkaProducer(
            settings("127.0.0.1:1"), Reports().on_ok, Reports().on_error, client_id="log-test"
        )
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            producer.poll(0.1)
        producer.close(0)
    finally:
        logger.removeHandler(keep)
    assert seen, "no librdkafka log line reached the logger"
    assert "127.0.0.1:1" in seen[0].getMessage()
    assert "Connect to" not in capfd.readouterr().err
