"""External mode (KAFKA_BOOTSTRAP): listeners and users from the environment, or a skip."""

from __future__ import annotations

import pytest

from tests.fixtures.kafka import KafkaService


def test_sasl_without_its_variables_skips_naming_them() -> None:
    service = KafkaService(None, "broker:9092", environ={})
    with pytest.raises(pytest.skip.Exception, match="set KAFKA_BOOTSTRAP_SASL_PLAINTEXT to test"):
        service.bootstrap_for("SASL_PLAINTEXT")
    with pytest.raises(
        pytest.skip.Exception,
        match="set KAFKA_USER_SCRAM_SHA_256 and KAFKA_PASSWORD_SCRAM_SHA_256 to test SCRAM-SHA-256",
    ):
        service.credentials("SCRAM-SHA-256")
    with pytest.raises(pytest.skip.Exception, match="KAFKA_BOOTSTRAP_SASL_SSL"):
        service.client_config("SASL_SSL", "PLAIN")
    assert service.ca_file is None


def test_sasl_with_its_variables_uses_them() -> None:
    environ = {
        "KAFKA_BOOTSTRAP_SASL_SSL": "broker:9094",
        "KAFKA_USER_SCRAM_SHA_512": "alice",
        "KAFKA_PASSWORD_SCRAM_SHA_512": "s3cret",
        "KAFKA_CA_FILE": "/etc/kafka/ca.pem",
    }
    service = KafkaService(None, "broker:9092", environ=environ)
    assert service.bootstrap == "broker:9092"
    assert service.credentials("SCRAM-SHA-512") == ("alice", "s3cret")
    assert service.client_config("SASL_SSL", "SCRAM-SHA-512") == {
        "bootstrap.servers": "broker:9094",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem",
    }
