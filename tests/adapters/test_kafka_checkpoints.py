"""The checkpoint topic's client settings, its name, and errors that need no broker."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.adapters.kafka import (
    checkpoint_client_config,
    ensure_checkpoint_topic,
    read_latest_checkpoint,
)
from engine.specification.constants import CHECKPOINT_TOPIC
from engine.specification.errors import TemporaryError
from engine.specification.naming import CONTROL_PREFIX, sink_of, subscription_pattern
from engine.specification.settings import SinkSettings


def config(**settings: Any) -> dict[str, Any]:
    return checkpoint_client_config(SinkSettings.from_canonical({"topic": "t", **settings}))


def test_sasl_ssl_settings_reach_the_brokers_as_the_producer_does() -> None:
    got = config(
        **{
            "bootstrapServers": "b1:9093,b2:9093",
            "authentication:securityProtocol": "SaslSsl",
            "authentication:saslMechanism": "ScramSha512",
            "authentication:username": "alice",
            "authentication:password": "s3cret",
            "authentication:caFile": "/etc/ca.pem",
            "brokerAddressFamily": "V6",
        }
    )
    assert got == {
        "bootstrap.servers": "b1:9093,b2:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ca.pem",
        "broker.address.family": "v6",
        "reconnect.backoff.max.ms": 20000,
    }


def test_no_producer_only_keys() -> None:
    got = config(**{"authentication:securityProtocol": "Ssl", "compression:type": "Lz4"})
    assert got["ssl.ca.location"] == "probe"
    producer_only = {
        "acks",
        "enable.idempotence",
        "compression.type",
        "compression.level",
        "message.send.max.retries",
        "request.timeout.ms",
        "client.id",
    }
    assert producer_only.isdisjoint(got)


def test_the_topic_name_is_no_groups_control_topic() -> None:
    assert f"{CONTROL_PREFIX}.checkpoints" == CHECKPOINT_TOPIC
    assert sink_of("checkpoints", CHECKPOINT_TOPIC) is None
    assert re.match(subscription_pattern("checkpoints"), CHECKPOINT_TOPIC) is None


UNREACHABLE = {"bootstrap.servers": "127.0.0.1:1"}


def test_ensure_with_no_broker_is_temporary() -> None:
    with pytest.raises(TemporaryError) as caught:
        ensure_checkpoint_topic(UNREACHABLE, timeout=1)
    assert str(caught.value).startswith(
        f"kafka: metadata of '{CHECKPOINT_TOPIC}': the brokers did not answer: "
    )


def test_read_with_no_broker_is_temporary() -> None:
    with pytest.raises(TemporaryError) as caught:
        read_latest_checkpoint(UNREACHABLE, "orders", timeout=1)
    assert str(caught.value).startswith(
        f"kafka: offsets of '{CHECKPOINT_TOPIC}': the brokers did not answer: "
    )
