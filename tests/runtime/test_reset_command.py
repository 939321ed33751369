"""`sinks reset` refuses while the engine reports the sink active."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from engine.cli import cmd_reset


class _Status(BaseHTTPRequestHandler):
    states: dict[str, str] = {}

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.states:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"name": name, "state": self.states[name]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def status_addr() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("state", ["RUNNING", "ACTIVATING", "BACKOFF"])
def test_refused_while_active(
    status_addr: str, state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main

    _Status.states = {"orders": state}
    code = main(
        [
            "reset",
            "orders",
            "--earliest",
            "--status-addr",
            status_addr,
            "--kurrentdb",
            "esdb://127.0.0.1:1?Tls=false",
        ]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        f"sinks: error: sink 'orders' is {state} in the engine at {status_addr}; "
        "stop it (disable it or remove its file) before resetting its checkpoint\n"
    )


def test_engine_state_reading(status_addr: str) -> None:
    _Status.states = {"a": "Stopped", "b": "FAILED"}
    assert cmd_reset.engine_state(status_addr, "a") == "STOPPED"
    assert cmd_reset.engine_state(status_addr, "b") == "FAILED"
    assert cmd_reset.engine_state(status_addr, "unknown") is None
    assert cmd_reset.engine_state("127.0.0.1:1", "a") is None


def test_position_options_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    assert main(["reset", "orders", "--earliest", "--latest"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--earliest"], "resumes from the beginning"),
        (["--position", "4242"], "resumes from after log position 4242"),
    ],
)
def test_reset_writes_the_checkpoint(
    kurrentdb, option: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from engine.adapters.kurrentdb import KurrentClient
    from engine.cli.main import main
    from engine.runtime.checkpoints import Checkpoint, CheckpointStore
    from engine.runtime.tracker import Position

    name = kurrentdb.unique("sink")
    code = main(
        ["reset", name, *option, "--kurrentdb", kurrentdb.url, "--status-addr", "127.0.0.1:9"]
    )
    assert code == 0
    assert capsys.readouterr().out == (
        f"{name}: checkpoint reset in $connectors/{name}/checkpoints: {expected}\n"
    )
    client = KurrentClient(kurrentdb.url)
    try:
        stored = CheckpointStore(client, name).load()
    finally:
        client.close()
    assert stored == (Checkpoint(None) if option == ["--earliest"] else Checkpoint(Position(4242)))


@pytest.mark.integration
def test_reset_latest_is_the_default(kurrentdb, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from engine.cli.main import main
    from tests.fixtures.kurrentdb_library import NewEvent, StreamState

    position = kurrentdb.client().append_to_stream(
        kurrentdb.unique("s"), current_version=StreamState.ANY, events=[NewEvent("E", b"{}")]
    )
    name = kurrentdb.unique("sink")
    assert main(["reset", name, "--kurrentdb", kurrentdb.url, "--status-addr", "127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    head = int(out.rsplit(" ", 1)[1])
    assert head >= position


def test_kurrentdb_down_is_a_temporary_failure(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main
    from engine.specification.exitcodes import ExitCode

    with socket.socket() as s:  # a port nobody listens on: neither engine nor KurrentDB
        s.bind(("127.0.0.1", 0))
        free = f"127.0.0.1:{s.getsockname()[1]}"
    code = main(
        [
            "reset",
            "orders",
            "--latest",
            "--status-addr",
            free,
            "--kurrentdb",
            f"esdb://{free}?Tls=false",
        ]
    )
    assert code == ExitCode.TEMPORARY
    err = capsys.readouterr().err
    assert err.startswith("sinks: error: kurrentdb: ") and "(temporary: try again later)" in err


def test_refused_when_the_engine_asks_for_a_token_it_was_not_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main
    from engine.supervisor.status import StatusServer

    class Nothing:
        last_reload = None

        def views(self) -> list[object]:
            return []

    server = StatusServer(Nothing(), None, "127.0.0.1:0", token="t0ken")  # type: ignore[arg-type]
    server.start()
    monkeypatch.delenv("SINKS_STATUS_TOKEN", raising=False)
    try:
        code = main(
            [
                "reset",
                "orders",
                "--earliest",
                "--status-addr",
                server.address,
                "--kurrentdb",
                "esdb://127.0.0.1:1?Tls=false",
            ]
        )
    finally:
        server.stop()
    assert code == 1
    assert capsys.readouterr().err == (
        f"sinks: error: the engine at {server.address} requires a token: set "
        "SINKS_STATUS_TOKEN to the engine's --status-token, so whether sink 'orders' runs "
        "there cannot be told; reset refused\n"
    )
