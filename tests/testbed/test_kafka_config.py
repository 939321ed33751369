"""Broker configuration: loopback only, separate controller, users, authorizer switch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine.testbed.kafka import USERS, BrokerPorts, Listener
from engine.testbed.kafka.certs import TlsMaterial
from engine.testbed.kafka.config import scram_format_args, server_properties

PORTS = BrokerPorts(plaintext=19092, sasl_plaintext=19093, sasl_ssl=19094, controller=19095)
TLS = TlsMaterial(Path("/w/tls/ca.pem"), Path("/w/tls/broker.p12"), "pw")


def props(**kwargs: bool) -> dict[str, str]:
    text = server_properties(PORTS, Path("/w/data"), TLS, **kwargs)
    return dict(line.split("=", 1) for line in text.splitlines())


def test_every_listener_binds_loopback_and_the_controller_is_not_advertised() -> None:
    p = props()
    assert p["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19093,"
        "SASL_SSL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    )
    assert p["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19093,SASL_SSL://127.0.0.1:19094"
    )
    assert p["controller.listener.names"] == "CONTROLLER"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19095"
    assert p["process.roles"] == "broker,controller"


def test_single_node_settings() -> None:
    p = props()
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "num.partitions",
    ):
        assert p[key] == "1", key
    assert p["group.initial.rebalance.delay.ms"] == "0"
    assert p["auto.create.topics.enable"] == "true"
    assert p["log.dirs"] == "/w/data"


def test_sasl_users_are_configured_per_listener() -> None:
    p = props()
    assert p["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    user, password = USERS["PLAIN"]
    for listener in ("sasl_plaintext", "sasl_ssl"):
        assert f'user_{user}="{password}"' in p[f"listener.name.{listener}.plain.sasl.jaas.config"]
        assert "ScramLoginModule" in p[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"]
    assert p["ssl.keystore.location"] == "/w/tls/broker.p12"
    assert p["ssl.keystore.type"] == "PKCS12"


def test_scram_users_are_added_at_format_time() -> None:
    u256, p256 = USERS["SCRAM-SHA-256"]
    u512, p512 = USERS["SCRAM-SHA-512"]
    assert scram_format_args() == [
        "--add-scram",
        f"SCRAM-SHA-256=[name={u256},password={p256}]",
        "--add-scram",
        f"SCRAM-SHA-512=[name={u512},password={p512}]",
    ]


def test_no_authorizer_unless_asked() -> None:
    assert "authorizer.class.name" not in props()
    p = props(authorizer=True)
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["allow.everyone.if.no.acl.found"] == "true"
    assert p["super.users"] == "User:ANONYMOUS"


def test_listener_names_parse_case_insensitively() -> None:
    assert Listener.parse("sasl_ssl") is Listener.SASL_SSL
    with pytest.raises(
        ValueError,
        match="unknown listener 'SSL'; expected one of PLAINTEXT, SASL_PLAINTEXT, SASL_SSL",
    ):
        Listener.parse("SSL")


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = BrokerPorts.free()
    values = [ports.port(listener) for listener in Listener]
    assert len(set(values)) == 4
    for port in values:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_ports_from_a_base() -> None:
    assert BrokerPorts.from_base(9092) == BrokerPorts(9092, 9093, 9094, 9095)
