"""`sinks run`'s start-up messages."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.adapters.kafka import CLIENT_LOGGER
from engine.cli.main import main


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """Undo what `sinks run` sets for the whole process: signal handlers, client log route."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    client_log = logging.getLogger(CLIENT_LOGGER)
    handlers, level, propagate = list(client_log.handlers), client_log.level, client_log.propagate
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)
    # Left in place, the route would write later tests' client lines to this test's
    # captured (then closed) stderr.
    client_log.handlers[:] = handlers
    client_log.setLevel(level)
    client_log.propagate = propagate


def test_a_taken_status_address_names_it_and_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_signal_handlers: None
) -> None:
    (tmp_path / "a.yaml").write_text(
        "name: a\nenabled: false\nsettings:\n  instanceTypeName: kafka-sink\n  topic: x\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        code = main(
            [
                "run",
                "--dir",
                str(tmp_path),
                "--status-addr",
                address,
                "--kurrentdb",
                "esdb://127.0.0.1:1?Tls=false",
            ]
        )
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"sinks: error: cannot start: the status address {address} is already in use "
        "(another engine?); choose another with --status-addr HOST:PORT, or turn the "
        "status server off with --status-addr off"
    )
