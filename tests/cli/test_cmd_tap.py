"""`sinks tap` without a broker: message formats, sink lookup, unreachable brokers.
The tap against the real broker is in tests/integration/test_tap.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.adapters.kafka import ReadBack
from engine.cli.cmd_tap import as_json, as_text, produced_by
from engine.cli.main import main
from engine.specification.exitcodes import ExitCode
from tests.support.ports import free_port

MESSAGE = ReadBack(
    "orders",
    2,
    17,
    b"1001",
    b'{"order":"1001"}',
    (("X-Env", b"dev"), ("esdb-connector-id", b"orders")),
    1764583200123,
)


def test_text_format() -> None:
    assert as_text(MESSAGE) == [
        "orders partition=2 offset=17 key=1001",
        "  headers: X-Env=dev, esdb-connector-id=orders",
        '  value: {"order":"1001"}',
    ]
    bare = ReadBack("t", 0, 0, None, None, (), 0)
    assert as_text(bare) == [
        "t partition=0 offset=0 key=(none)",
        "  headers: (none)",
        "  value: (null)",
    ]


def test_json_format() -> None:
    assert as_json(MESSAGE) == {
        "topic": "orders",
        "partition": 2,
        "offset": 17,
        "timestamp_ms": 1764583200123,
        "key": "1001",
        "headers": [["X-Env", "dev"], ["esdb-connector-id", "orders"]],
        "value": '{"order":"1001"}',
    }


def test_only_the_sinks_own_messages_count() -> None:
    assert produced_by(MESSAGE, "orders")
    assert not produced_by(MESSAGE, "payments")
    assert not produced_by(ReadBack("t", 0, 0, None, None, (), 0), "orders")


@pytest.fixture
def project_files() -> dict[str, str]:
    return {
        "orders.yaml": (
            "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"
            f"  bootstrapServers: 127.0.0.1:{free_port()}\n"
        ),
        "routed.yaml": (
            'name: routed\nsettings:\n  instanceTypeName: kafka-sink\n  topic: "es.{category}"\n'
            f"  bootstrapServers: 127.0.0.1:{free_port()}\n"
        ),
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["routed"],
            "sink 'routed' writes to the topic its events call for ('es.{category}'): give "
            "--topic with one of those topics",
        ),
        (
            ["routed", "--topic", "es order"],
            "--topic 'es order': Kafka refuses the character(s) ' '",
        ),
        (["orders", "--topic", "other"], "sink 'orders' writes only to 'orders', not to 'other'"),
    ],
)
def test_the_topic_to_read_must_be_one_the_sink_writes(
    project: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["tap", *arguments]) == ExitCode.USAGE
    assert capsys.readouterr().err == f"sinks tap: error: {message}\n"


def test_a_routed_sink_is_tapped_on_the_topic_given(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Past the checks, the brokers are tried (and are not there).
    assert main(["tap", "routed", "--topic", "es.order", "--connect-timeout", "1"]) == (
        ExitCode.TEMPORARY
    )


def test_unknown_sink_suggests_the_closest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tap", "ordrs"]) == ExitCode.CONFIG
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "sinks tap: error: no sink named 'ordrs' (did you mean 'orders'?)\n",
    )


def test_files_with_errors_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "bad.yaml").write_text("name: bad\nsettings: {instanceTypeName: kafka-sink}\n")
    assert main(["tap", "orders"]) == ExitCode.CONFIG
    assert "sinks.d/bad.yaml" in capsys.readouterr().err


def test_unreachable_brokers_exit_temporary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tap", "orders", "--connect-timeout", "1"]) == ExitCode.TEMPORARY
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("sinks tap: error: kafka: the brokers did not answer: ")


def test_limit_must_be_positive(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tap", "orders", "--limit", "0"]) == ExitCode.USAGE
    assert capsys.readouterr().err == "sinks tap: error: --limit must be 1 or more\n"


def test_the_kafka_client_logger_is_left_as_it_was(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from engine.adapters.kafka import CLIENT_LOGGER

    logger = logging.getLogger(CLIENT_LOGGER)
    before = (list(logger.handlers), logger.level, logger.propagate)
    assert main(["tap", "orders", "--connect-timeout", "1"]) == ExitCode.TEMPORARY
    # a handler left behind would write to this test's (then closed) stderr later on
    assert (list(logger.handlers), logger.level, logger.propagate) == before
