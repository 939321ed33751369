"""`sinks status` reads a running engine's status endpoint and prints a table."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from engine.cli.main import main
from engine.supervisor.results import SinkView
from engine.supervisor.status import StatusServer


class Source:
    last_reload = None

    def __init__(self, views: list[SinkView]) -> None:
        self._views = views

    def views(self) -> list[SinkView]:
        return self._views


@pytest.fixture
def engine_addr() -> Iterator[str]:
    views = [
        SinkView(
            name="orders",
            state="RUNNING",
            reason=None,
            digest="abc",
            source_file="sinks.d/o.yaml",
            enabled=True,
            delivered=120,
            failed=0,
            last_delivered_position=98765,
        ),
        SinkView(
            name="payments-eu",
            state="FAILED",
            reason="x",
            digest="def",
            source_file="sinks.d/p.yaml",
            enabled=True,
            delivered=3,
            failed=2,
            last_error="kafka: topic authorization failed\nfor payments",
        ),
    ]
    server = StatusServer(Source(views), None, "127.0.0.1:0")
    server.start()
    yield server.address
    server.stop()


def test_prints_a_table(engine_addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--addr", engine_addr]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "NAME         STATE    DELIVERED  FAILED  POSITION  LAG  LAST ERROR",
        "orders       RUNNING  120        0       98765     -    -",
        "payments-eu  FAILED   3          2       -         -    kafka: topic authorization "
        "failed for payments",
    ]


def test_json_output(engine_addr: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--addr", engine_addr, "--json"]) == 0
    assert '"name": "payments-eu"' in capsys.readouterr().out


def test_no_engine_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["status", "--addr", f"127.0.0.1:{port}"]) == 1
    assert f"no engine answers at 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_group_member_adds_an_owner_column_and_the_group_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    views = [
        SinkView(
            "a", "RUNNING", None, "d1", "f", True, delivered=5, owner={"host": "m1", "pid": 11}
        ),
        SinkView(
            "b", "REMOTE", None, "d2", "f", True, owner={"host": "m2", "pid": 22}, local=False
        ),
        SinkView("c", "UNASSIGNED", None, "d3", "f", True, local=False),
    ]
    group = {
        "name": "prod",
        "generation": 7,
        "member": {"host": "m1", "pid": 11},
        "sinks_owned": 1,
        "members": [{"member_id": "x"}, {"member_id": "y"}],
    }
    server = StatusServer(Source(views), None, "127.0.0.1:0", group=lambda: group)
    server.start()
    try:
        assert main(["status", "--addr", server.address]) == 0
    finally:
        server.stop()
    assert capsys.readouterr().out.splitlines() == [
        "NAME  STATE       DELIVERED  FAILED  POSITION  LAG  OWNER  LAST ERROR",
        "a     RUNNING     5          0       -         -    m1/11  -",
        "b     REMOTE      0          0       -         -    m2/22  -",
        "c     UNASSIGNED  0          0       -         -    -      -",
        "group prod: 2 member(s), generation 7; this member m1/11 owns 1 sink(s)",
    ]


def test_readiness_counts_only_the_sinks_this_member_runs() -> None:
    views = [
        SinkView("a", "RUNNING", None, "d1", "f", True),
        SinkView("b", "REMOTE", None, "d2", "f", True, local=False),
    ]
    server = StatusServer(Source(views), None, "127.0.0.1:0")
    server.start()
    try:
        code, body, _ = server.respond("/readyz")
        assert code == 200 and b'"not_running": {}' in body
        views.append(SinkView("c", "STARTING", None, "d3", "f", True))
        code, body, _ = server.respond("/readyz")
        assert code == 503 and b'"c": "STARTING"' in body
    finally:
        server.stop()


def test_an_engine_with_a_token_answers_only_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    view = SinkView(
        name="orders",
        state="RUNNING",
        reason=None,
        digest="abc",
        source_file="o.yaml",
        enabled=True,
    )
    server = StatusServer(Source([view]), None, "127.0.0.1:0", token="t0ken")
    server.start()
    try:
        monkeypatch.delenv("SINKS_STATUS_TOKEN", raising=False)
        assert main(["status", "--addr", server.address]) == 1
        assert capsys.readouterr().err == (
            f"sinks status: error: the engine at {server.address} requires a token: "
            "set SINKS_STATUS_TOKEN to the engine's --status-token\n"
        )
        monkeypatch.setenv("SINKS_STATUS_TOKEN", "t0ken")
        assert main(["status", "--addr", server.address]) == 0
        assert "orders" in capsys.readouterr().out
    finally:
        server.stop()
