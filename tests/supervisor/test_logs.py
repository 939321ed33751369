"""Event log lines: plain text and JSON, locations on rejections, no secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from engine.specification.model import Diagnostic, Location, SinkDefinition
from engine.supervisor.logs import ClientLogBridge, EventLog, route_client_logs
from engine.supervisor.plan import Change, Plan

SECRET = "hunter2-very-secret"


def definition() -> SinkDefinition:
    return SinkDefinition.from_canonical(
        "orders",
        {
            "topic": "orders",
            "bootstrapServers": "127.0.0.1:9092",
            "authentication:securityProtocol": "SaslPlaintext",
            "authentication:username": "svc",
            "authentication:password": SECRET,
        },
        source_file="sinks.d/orders.yaml",
    )


def test_text_lines() -> None:
    out = io.StringIO()
    log = EventLog(out, "text")
    d = definition()
    log.sink_started(d)
    log.file_rejected(
        "sinks.d/bad.yaml",
        [
            Diagnostic(
                Location("sinks.d/bad.yaml", 12, 5), "'zsdt' is not one of ...", "compression:type"
            )
        ],
    )
    log.reload_plan(Plan(changed=(Change("orders", d, d),), unchanged=(d, d)))
    log.sink_stopped("hung", stuck=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    started = lines[0].split(None, 2)[2]
    assert started == (
        f"sink.started name=orders file=sinks.d/orders.yaml digest={d.digest} topic=orders "
        "bootstrapServers=127.0.0.1:9092 authentication.securityProtocol=SaslPlaintext"
    )
    assert " ERROR file.rejected file=sinks.d/bad.yaml at=sinks.d/bad.yaml:12:5 " in lines[1]
    assert "compression:type: 'zsdt' is not one of ..." in lines[1]
    assert lines[2].endswith("reload.plan changed=orders unchanged=2")
    assert "sink.stuck name=hung" in lines[3]
    assert SECRET not in out.getvalue()


def test_json_lines() -> None:
    out = io.StringIO()
    EventLog(out, "json").sink_started(definition())
    record = json.loads(out.getvalue())
    assert record["event"] == "sink.started"
    assert record["level"] == "INFO"
    assert record["name"] == "orders"
    assert record["topic"] == "orders"
    assert SECRET not in out.getvalue()


def test_quiet_log_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = EventLog.quiet()
    quiet.sink_started(definition())  # must not fail without a stream
    quiet.emit("ERROR", "sink.failed", name="orders", error="boom")
    assert capsys.readouterr() == ("", "")
    # The same calls on a stream do write: the quiet log had lines to leave out.
    out = io.StringIO()
    EventLog(out, "text").sink_started(definition())
    assert " sink.started name=orders " in out.getvalue()


def test_kafka_client_lines_become_events_naming_the_sink() -> None:
    out = io.StringIO()
    bridge = ClientLogBridge(EventLog(out, "json"), "engine.kafka", "kafka-sink-")
    line = logging.LogRecord(
        "engine.kafka.kafka-sink-orders",
        logging.WARNING,
        __file__,
        1,
        "%s [%s] %s",
        ("GETPID", "rdkafka#producer-1", "[thrd:main]: Failed to acquire idempotence PID"),
        None,
    )
    bridge.emit(line)
    assert json.loads(out.getvalue()) == {
        "ts": json.loads(out.getvalue())["ts"],
        "level": "WARN",
        "event": "kafka.client",
        "sink": "orders",
        "facility": "GETPID",
        "message": "[rdkafka#producer-1] [thrd:main]: Failed to acquire idempotence PID",
    }


def test_route_client_logs_replaces_an_earlier_bridge() -> None:
    first, second = io.StringIO(), io.StringIO()
    route_client_logs(EventLog(first))
    route_client_logs(EventLog(second))
    logger = logging.getLogger("engine.kafka.bench")
    try:
        logger.error("%s [%s] %s", "FAIL", "rdkafka#producer-2", "Connect to 127.0.0.1:1 failed")
    finally:
        for handler in list(logging.getLogger("engine.kafka").handlers):
            logging.getLogger("engine.kafka").removeHandler(handler)
    assert first.getvalue() == ""
    text = second.getvalue()
    assert text.endswith(
        ' ERROR kafka.client client=bench facility=FAIL message="[rdkafka#producer-2] '
        'Connect to 127.0.0.1:1 failed"\n'
    )


def test_repeated_client_lines_are_counted_not_written() -> None:
    out = io.StringIO()
    now = [100.0]
    bridge = ClientLogBridge(
        EventLog(out, "json"), "engine.kafka", "kafka-sink-", quiet_s=60, clock=lambda: now[0]
    )

    def fail(after_ms: int, facility: str = "FAIL") -> None:
        text = f"[thrd:b/bootstrap]: Connect to ipv4#127.0.0.1:1 failed (after {after_ms}ms)"
        bridge.emit(
            logging.LogRecord(
                "engine.kafka.kafka-sink-orders",
                logging.ERROR,
                __file__,
                1,
                "%s [%s] %s",
                (facility, "rdkafka#producer-1", text),
                None,
            )
        )

    for step in range(5):  # one reconnect every 2 s, timings differ
        fail(step)
        now[0] += 2
    fail(0, facility="GETPID")  # another line is not held back
    now[0] = 161.0
    fail(7)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["facility"], x.get("repeated")) for x in lines] == [
        ("FAIL", None),
        ("GETPID", None),
        ("FAIL", 4),
    ]
    assert lines[2]["message"].endswith("(after 7ms)")


def test_incident_lines_name_the_sink_cause_position_and_reason() -> None:
    from engine.runtime.worker_api import Cause, Incident, IncidentKind
    from engine.supervisor.logs import IncidentLog

    out = io.StringIO()
    listener = IncidentLog(EventLog(out, "text"))
    refused = (
        "delivery failed at position 4242: kafka: MSG_SIZE_TOO_LARGE: "
        "Broker: Message size too large (not a transient error)"
    )
    down = "kurrentdb: subscribing: ServiceUnavailable: connection refused"
    for kind, cause, reason, position in [
        (IncidentKind.FAILED, Cause.DELIVERY, refused, 4242),
        (IncidentKind.BACKOFF, Cause.KURRENTDB, down, 100),
        (IncidentKind.LOST, Cause.KURRENTDB, down, 100),
        (IncidentKind.BACK, Cause.KURRENTDB, "kurrentdb reachable again", 100),
        (IncidentKind.SKIPPED, Cause.DELIVERY, "kafka: MSG_SIZE_TOO_LARGE: too large", 4242),
        (IncidentKind.DEAD_LETTERED, Cause.TRANSFORMER, "sink 'orders': boom", 4300),
    ]:
        listener.on_incident("orders", Incident(kind, cause, reason, position, 0.0))
    assert [line.split(None, 1)[1] for line in out.getvalue().splitlines()] == [
        f'ERROR sink.failed name=orders cause=delivery position=4242 reason="{refused}"',
        f'WARN  sink.backoff name=orders cause=kurrentdb position=100 reason="{down}"',
        f'WARN  sink.dependency_lost name=orders cause=kurrentdb position=100 reason="{down}"',
        "INFO  sink.dependency_back name=orders cause=kurrentdb position=100 "
        'reason="kurrentdb reachable again"',
        "WARN  sink.event_skipped name=orders cause=delivery position=4242 "
        'reason="kafka: MSG_SIZE_TOO_LARGE: too large"',
        "WARN  sink.event_dead_lettered name=orders cause=transformer position=4300 "
        "reason=\"sink 'orders': boom\"",
    ]
    out = io.StringIO()
    IncidentLog(EventLog(out, "json")).on_incident(
        "orders", Incident(IncidentKind.LOST, Cause.KAFKA, "kafka: down", None, 0.0)
    )
    body = json.loads(out.getvalue())
    del body["ts"]
    assert body == {
        "level": "WARN",
        "event": "sink.dependency_lost",
        "name": "orders",
        "cause": "kafka",
        "reason": "kafka: down",
    }


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("secret", ["topic-from-secret", 'q"uo\\te ünï', "brokers.internal:9093"])
def test_values_written_from_secrets_are_masked_in_every_field(fmt: str, secret: str) -> None:
    from engine.config.secretbook import SecretBook

    book = SecretBook()
    book.add(secret)
    out = io.StringIO()
    log = EventLog(out, fmt)
    log.mask_with(book)
    d = SinkDefinition.from_canonical(
        "orders", {"topic": "t", "bootstrapServers": secret}, source_file="sinks.d/o.yaml"
    )
    log.sink_started(d)
    log.sink_failed("orders", f"kafka: cannot reach {secret}: refused")
    text = out.getvalue()
    assert secret not in text
    if fmt == "json":
        failed = json.loads(text.splitlines()[1])
        assert failed["error"] == "kafka: cannot reach ***: refused"
        assert secret not in json.dumps([json.loads(line) for line in text.splitlines()])
    else:
        assert "bootstrapServers=***" in text
