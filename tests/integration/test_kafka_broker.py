"""The local test broker is a real Kafka: each listener and SASL mechanism carries
messages both ways, wrong credentials and an untrusted CA are refused, and data
survives clean and hard restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from engine.testbed.kafka import KafkaBroker
from tests.fixtures.kafka import KafkaService, client_config

pytestmark = pytest.mark.integration

LISTENERS = [
    pytest.param("PLAINTEXT", None, id="plaintext"),
    pytest.param("SASL_PLAINTEXT", "PLAIN", id="sasl-plain"),
    pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", id="sasl-scram-256"),
    pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-512", id="sasl-scram-512"),
    pytest.param("SASL_SSL", "PLAIN", id="sasl-ssl-plain"),
    pytest.param("SASL_SSL", "SCRAM-SHA-256", id="sasl-ssl-scram-256"),
    pytest.param("SASL_SSL", "SCRAM-SHA-512", id="sasl-ssl-scram-512"),
]


def produce(
    config: dict[str, Any], topic: str, count: int, *, padding: int = 0, **extra: Any
) -> None:
    errors: list[KafkaError] = []
    # Idempotence keeps the order when the first send is retried (a topic made on first
    # use may have no leader yet); without it, v0 once landed after v1..v4.
    producer = Producer({**config, "acks": "all", "enable.idempotence": True, **extra})

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    for i in range(count):
        producer.produce(
            topic,
            key=f"k{i}".encode(),
            value=f"v{i}".encode() + b"." * padding,
            headers=[("n", str(i).encode())],
            on_delivery=on_delivery,
        )
    assert producer.flush(30) == 0, "messages still queued after 30s"
    assert errors == []


def consume_with(config: dict[str, Any], topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {**config, "group.id": f"t-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, -2)])
        deadline = time.monotonic() + 30
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value())
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize(("listener", "mechanism"), LISTENERS)
def test_each_listener_carries_messages_both_ways(
    kafka_broker: KafkaService, topic: str, listener: str, mechanism: str | None
) -> None:
    config = kafka_broker.client_config(listener, mechanism)
    produce(config, topic, 5)

    assert consume_with(config, topic, 5) == [f"v{i}".encode() for i in range(5)]
    # what went in over that listener is the same topic everyone else sees
    records = kafka_broker.consume(topic, 5)
    assert [(r.key, r.value, r.headers) for r in records] == [
        (f"k{i}".encode(), f"v{i}".encode(), [("n", str(i).encode())]) for i in range(5)
    ]
    assert [r.offset for r in records] == [0, 1, 2, 3, 4]
    assert all(r.timestamp_ms > 0 for r in records)


def _first_error(config: dict[str, Any]) -> KafkaError:
    seen: list[KafkaError] = []
    # creating the client starts connecting to the bootstrap server; errors of that
    # connection are delivered through error_cb while polling
    admin = AdminClient({**config, "error_cb": seen.append})
    deadline = time.monotonic() + 20
    while not seen and time.monotonic() < deadline:
        admin.poll(0.1)
    assert seen, "no error reported for bad credentials"
    return seen[0]


EXPECTED_AUTH_FAILURE = {
    "PLAIN": "SASL authentication error: Authentication failed: Invalid username or password",
    "SCRAM-SHA-256": "SASL authentication error: Authentication failed during authentication "
    "due to invalid credentials with SASL mechanism SCRAM-SHA-256",
    "SCRAM-SHA-512": "SASL authentication error: Authentication failed during authentication "
    "due to invalid credentials with SASL mechanism SCRAM-SHA-512",
}


@pytest.mark.parametrize(
    ("listener", "mechanism"),
    [
        ("SASL_PLAINTEXT", "PLAIN"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("SASL_SSL", "SCRAM-SHA-512"),
    ],
)
def test_wrong_password_is_refused(
    kafka_broker: KafkaService, listener: str, mechanism: str
) -> None:
    config = kafka_broker.client_config(listener, mechanism)
    config["sasl.password"] = "not-the-password"

    error = _first_error(config)

    assert error.code() == KafkaError._AUTHENTICATION
    assert EXPECTED_AUTH_FAILURE[mechanism] in error.str()


def test_sasl_ssl_without_the_test_ca_is_refused(kafka_broker: KafkaService) -> None:
    config = kafka_broker.client_config("SASL_SSL", "PLAIN")
    del config["ssl.ca.location"]  # the system trust store does not know the test CA

    error = _first_error(config)

    # librdkafka reports the failed handshake as _SSL or, on a later retry, _TRANSPORT
    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT)
    assert "certificate verify failed" in error.str()


def test_data_survives_a_clean_restart(kafka_broker: KafkaService, topic: str) -> None:
    kafka_broker.create_topic(topic, partitions=2)
    produce(kafka_broker.client_config(), topic, 20)
    address = kafka_broker.bootstrap

    kafka_broker.stop()
    kafka_broker.start()

    assert kafka_broker.bootstrap == address
    records = kafka_broker.consume(topic, 20)
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(20))
    assert {r.partition for r in records} == {0, 1}


def test_data_survives_a_hard_kill(kafka_broker: KafkaService, topic: str) -> None:
    produce(kafka_broker.client_config(), topic, 20)

    kafka_broker.stop(hard=True)
    kafka_broker.start()

    # the broker takes new writes after recovery and kept the old ones
    produce(kafka_broker.client_config(), topic, 1)
    values = [r.value for r in kafka_broker.consume(topic, 21)]
    assert values == [f"v{i}".encode() for i in range(20)] + [b"v0"]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_batch_codecs_reports_the_codec_on_disk(
    kafka_broker: KafkaService, topic: str, codec: str
) -> None:
    # librdkafka sends a batch uncompressed when compression would not shrink it,
    # so the values are long and repetitive.
    produce(kafka_broker.client_config(), topic, 10, padding=2000, **{"compression.type": codec})

    assert kafka_broker.batch_codecs(topic) == {codec}


def test_batch_codecs_of_uncompressed_batches(kafka_broker: KafkaService, topic: str) -> None:
    produce(kafka_broker.client_config(), topic, 3, **{"compression.type": "none"})

    assert kafka_broker.batch_codecs(topic) == {"none"}


@pytest.fixture(scope="module")
def authorizing_broker(
    kafka_broker: KafkaService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    if kafka_broker.external:
        pytest.skip("needs a local broker with the ACL authorizer")
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-acl"), authorizer=True)
    broker.start()
    yield broker
    broker.cleanup()


def test_authorizer_refuses_a_topic_denied_by_acl(authorizing_broker: KafkaBroker) -> None:
    user, password = authorizing_broker.users["PLAIN"]
    admin = AdminClient({"bootstrap.servers": authorizing_broker.bootstrap()})  # super user
    deny = AclBinding(
        ResourceType.TOPIC,
        "denied",
        ResourcePatternType.LITERAL,
        f"User:{user}",
        "*",
        AclOperation.ALL,
        AclPermissionType.DENY,
    )
    for future in admin.create_acls([deny]).values():
        future.result(timeout=30)
    config = client_config(
        authorizing_broker.bootstrap("SASL_PLAINTEXT"),
        listener="SASL_PLAINTEXT",
        mechanism="PLAIN",
        username=user,
        password=password,
    )

    produce(config, "allowed", 1)  # no ACL on this topic: everyone may use it
    with pytest.raises(AssertionError) as refused:
        produce(config, "denied", 1)

    assert "TOPIC_AUTHORIZATION_FAILED" in str(refused.value)
