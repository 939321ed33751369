"""What validates also runs: formats and cross-field rules the producer and V8 impose."""

from __future__ import annotations

import base64

import pytest

from tests.config.test_canonical import FILE, formatted, run

TOPIC = (
    "a Kafka topic name (letters, digits, '.', '_' or '-') in which {placeholders} may stand "
    "for parts of each event"
)
SERVERS = "a comma-separated list of host:port (port 1..65535, an IPv6 address in brackets)"


def sink(*lines: str) -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"settings:\n  instanceTypeName: kafka-sink\n{body}\n"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('""', f"'' is not {TOPIC}"),
        ('"my topic"', f"'my topic' is not {TOPIC}"),
        ("a/b", f"'a/b' is not {TOPIC}"),
        ("commandes-reçues", f"'commandes-reçues' is not {TOPIC}"),
        ('"orders\\n"', f"'orders\\n' is not {TOPIC}"),
        # What the pattern lets through, the topic rule refuses.
        ('"."', "a topic name cannot be '.' or '..'"),
        ('".."', "a topic name cannot be '.' or '..'"),
        ("x" * 250, "a topic name has at most 249 characters, this one 250"),
    ],
)
def test_topic_names_kafka_refuses_are_errors(written: str, message: str) -> None:
    result = run(sink(f"topic: {written}"))
    assert formatted(result) == [f"{FILE}:3:10: error: topic: {message}"]


@pytest.mark.parametrize("name", ["orders", "x" * 249, "a.b_c-D9", "..."])
def test_topic_names_kafka_accepts_pass(name: str) -> None:
    assert formatted(run(sink(f'topic: "{name}"'))) == []


@pytest.mark.parametrize(
    "servers", ['""', "localhost", "a:0", "a:65536", "'a:1,,b:2'", "'h :1'", "'a:1,'", "a:b"]
)
def test_malformed_bootstrap_servers_are_errors(servers: str) -> None:
    result = run(sink("topic: t", f"bootstrapServers: {servers}"))
    (line,) = formatted(result)
    assert line.startswith(f"{FILE}:4:21: error: bootstrapServers: ")
    assert line.endswith(f" is not {SERVERS}")


@pytest.mark.parametrize(
    "servers", ["localhost:9092", "'a:1, b.example:65535'", "'[::1]:9092'", "10.0.0.1:9093"]
)
def test_host_port_lists_pass(servers: str) -> None:
    assert formatted(run(sink("topic: t", f"bootstrapServers: {servers}"))) == []


def test_reconnect_backoff_below_the_first_back_off_is_an_error() -> None:
    result = run(sink("topic: t", "resilience:", "  reconnectBackoffMaxMs: 99"))
    assert formatted(result) == [
        f"{FILE}:5:28: error: resilience:reconnectBackoffMaxMs: must be at least 100, got 99"
    ]
    assert formatted(run(sink("topic: t", "resilience:", "  reconnectBackoffMaxMs: 100"))) == []


def test_no_retries_with_broker_acks_is_an_error() -> None:
    result = run(sink("topic: t", "resilience:", "  messageSendMaxRetries: 0"))
    assert formatted(result) == [
        f"{FILE}:5:28: error: resilience:messageSendMaxRetries: must be at least 1 while "
        "waitForBrokerAck is true (the idempotent producer needs retries); set "
        "waitForBrokerAck: false to send without retries"
    ]


def test_no_retries_without_broker_acks_pass() -> None:
    written = sink(
        "topic: t", "waitForBrokerAck: false", "resilience:", "  messageSendMaxRetries: 0"
    )
    assert formatted(run(written)) == []


def b64(source: str) -> str:
    return base64.b64encode(source.encode()).decode()


def transformer(source: str) -> str:
    return sink("topic: t", "transformer:", "  enabled: true", f"  function: {b64(source)}")


def test_a_transformer_that_does_not_compile_is_an_error() -> None:
    result = run(transformer("function transform(record) { record.value = ; }"))
    assert formatted(result) == [
        f"{FILE}:6:15: error: transformer:function: the JavaScript does not compile or run: "
        "<anonymous>:1: SyntaxError: Unexpected token ';'"
    ]


def test_a_transformer_without_a_transform_function_is_an_error() -> None:
    result = run(transformer("function transfrom(record) {}"))
    assert formatted(result) == [
        f"{FILE}:6:15: error: transformer:function: the JavaScript must define a function "
        "named transform(record)"
    ]


def test_a_transformer_that_compiles_passes() -> None:
    assert formatted(run(transformer("function transform(r) { r.value.x = 1; }"))) == []


@pytest.mark.parametrize("kind", ["unspecified", "prefix", "streamId"])
def test_a_filter_list_of_only_commas_is_an_error(kind: str) -> None:
    written = sink(
        "topic: t", "subscription:", "  filter:", f"    filterType: {kind}", '    expression: " , "'
    )
    assert formatted(run(written)) == [
        f"{FILE}:7:19: error: subscription:filter:expression: ' , ' holds no stream name or "
        "prefix, only commas and spaces"
    ]
