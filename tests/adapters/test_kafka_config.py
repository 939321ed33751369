"""Producer configuration mapping and librdkafka error classification."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from engine.adapters.kafka import classify, producer_config
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.settings import SinkSettings


def config(**settings: Any) -> dict[str, Any]:
    return producer_config(SinkSettings.from_canonical({"topic": "t", **settings}))


def test_defaults_follow_the_settings_table() -> None:
    assert config() == {
        "bootstrap.servers": "localhost:9092",
        "client.id": "kafka-sink",
        "security.protocol": "plaintext",
        "compression.type": "zstd",
        "compression.level": 6,
        "broker.address.family": "v4",
        "reconnect.backoff.max.ms": 20000,
        "message.send.max.retries": 2147483647,
        "request.timeout.ms": 30000,
        "acks": "all",
        "enable.idempotence": True,
    }


def test_wait_for_broker_ack_false_is_leader_ack_without_idempotence() -> None:
    got = config(waitForBrokerAck=False)
    assert got["acks"] == "1"
    assert got["enable.idempotence"] is False


@pytest.mark.parametrize(
    ("mechanism", "expected"),
    [("Plain", "PLAIN"), ("ScramSha256", "SCRAM-SHA-256"), ("ScramSha512", "SCRAM-SHA-512")],
)
def test_sasl_settings(mechanism: str, expected: str) -> None:
    got = config(
        **{
            "authentication:securityProtocol": "SaslPlaintext",
            "authentication:saslMechanism": mechanism,
            "authentication:username": "alice",
            "authentication:password": "s3cret",
        }
    )
    assert got["security.protocol"] == "sasl_plaintext"
    assert got["sasl.mechanism"] == expected
    assert (got["sasl.username"], got["sasl.password"]) == ("alice", "s3cret")
    assert "ssl.ca.location" not in got


def test_sasl_mechanism_defaults_to_plain() -> None:
    got = config(**{"authentication:securityProtocol": "SaslSsl"})
    assert got["sasl.mechanism"] == "PLAIN"
    assert got["ssl.ca.location"] == "probe"


def test_ssl_uses_the_ca_file_when_given_and_the_system_store_otherwise() -> None:
    assert config(**{"authentication:securityProtocol": "Ssl"})["ssl.ca.location"] == "probe"
    got = config(
        **{"authentication:securityProtocol": "Ssl", "authentication:caFile": "/etc/ca.pem"}
    )
    assert got["ssl.ca.location"] == "/etc/ca.pem"
    assert "sasl.mechanism" not in got
    assert "sasl.username" not in config(**{"authentication:username": "ignored-plaintext"})


@pytest.mark.parametrize("protocol", ["Plaintext", "Ssl", "SaslPlaintext", "SaslSsl"])
def test_a_group_member_authenticates_exactly_as_a_sink_does(protocol: str) -> None:
    from engine.adapters.kafka.group import client_config
    from engine.specification.connection import ClusterConnection

    written = {
        "authentication:securityProtocol": protocol,
        "authentication:saslMechanism": "ScramSha512",
        "authentication:username": "u",
        "authentication:password": "p",
        "authentication:caFile": "/ca.pem",
    }
    sink = SinkSettings.from_canonical({"topic": "t", **written})
    member = ClusterConnection(
        bootstrap="localhost:9092",
        security_protocol=sink.security_protocol,
        sasl_mechanism=sink.sasl_mechanism,
        username="u",
        password="p",
        ca_file="/ca.pem",
    )
    produced = producer_config(sink)
    assert client_config(member) == {
        key: produced[key] for key in client_config(member) if key in produced
    }
    assert set(client_config(member)) - {"bootstrap.servers"} == {
        key for key in produced if key.startswith(("security.", "sasl.", "ssl."))
    }


def test_a_group_member_s_defaults_are_a_sink_s() -> None:
    from engine.specification.connection import ClusterConnection

    member, sink = ClusterConnection(bootstrap="b:1"), SinkSettings(topic="t")
    for name in ("security_protocol", "sasl_mechanism", "username", "password", "ca_file"):
        assert getattr(member, name) == getattr(sink, name), name


@pytest.mark.parametrize(
    ("kind", "codec"),
    [("None", "none"), ("Gzip", "gzip"), ("Snappy", "snappy"), ("Lz4", "lz4"), ("Zstd", "zstd")],
)
def test_compression(kind: str, codec: str) -> None:
    got = config(**{"compression:type": kind, "compression:level": 3})
    assert got["compression.type"] == codec
    if codec == "none":
        assert "compression.level" not in got
    else:
        assert got["compression.level"] == 3


def test_resilience_and_network_settings() -> None:
    got = config(
        **{
            "bootstrapServers": "a:1,b:2",
            "brokerAddressFamily": "Any",
            "resilience:reconnectBackoffMaxMs": 1234,
            "resilience:messageSendMaxRetries": 7,
            "resilience:requestTimeoutMs": 3000,
        }
    )
    assert got["bootstrap.servers"] == "a:1,b:2"
    assert got["broker.address.family"] == "any"
    assert got["reconnect.backoff.max.ms"] == 1234
    assert got["message.send.max.retries"] == 7
    assert got["request.timeout.ms"] == 3000
    assert config(brokerAddressFamily="V6")["broker.address.family"] == "v6"


def test_every_configuration_is_accepted_by_librdkafka() -> None:
    from confluent_kafka import Producer

    for protocol in ("Plaintext", "Ssl", "SaslPlaintext", "SaslSsl"):
        for mechanism in ("Plain", "ScramSha256", "ScramSha512"):
            got = config(
                **{
                    "authentication:securityProtocol": protocol,
                    "authentication:saslMechanism": mechanism,
                    "authentication:username": "u",
                    "authentication:password": "p",
                    "bootstrapServers": "127.0.0.1:1",
                }
            )
            Producer(got)  # raises KafkaException on an unknown key or value


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.TRANSACTION_COORDINATOR_FENCED,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._PURGE_QUEUE,
        KafkaError._PURGE_INFLIGHT,
    ],
)
def test_transient_codes_are_temporary(code: int) -> None:
    assert isinstance(classify(KafkaError(code)), TemporaryError)


def test_transient_code_stays_temporary_even_when_fatal() -> None:
    error = KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, fatal=True)
    assert isinstance(classify(error), TemporaryError)


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.INVALID_RECORD,
    ],
)
def test_other_codes_are_permanent(code: int) -> None:
    error = classify(KafkaError(code))
    assert isinstance(error, PermanentError)
    assert str(error).startswith("kafka: ")


def test_retriable_flag_and_fatal_flag() -> None:
    assert isinstance(
        classify(KafkaError(KafkaError.NOT_ENOUGH_REPLICAS, retriable=True)), TemporaryError
    )
    fatal = classify(KafkaError(KafkaError._FATAL, fatal=True))
    assert isinstance(fatal, PermanentError)
    assert "fatal producer error" in str(fatal)


def test_message_text_names_the_error() -> None:
    error = classify(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too big"))
    assert str(error) == "kafka: MSG_SIZE_TOO_LARGE: too big"
