"""`sinks top`: rates from successive polls, the frame's exact text, and the live view
running in a real terminal (tmux), read back with capture-pane."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from engine.cli.cmd_top import Poll, Rates, frame, owner_text
from engine.cli.main import main
from engine.specification.exitcodes import ExitCode
from engine.supervisor.results import SinkView
from engine.supervisor.status import StatusServer
from tests.support.waits import wait_until


def _text(renderable: Any, width: int = 100) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(renderable)
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_rates_come_from_successive_polls() -> None:
    rates = Rates()
    assert rates.update(10.0, [{"name": "a", "delivered": 100}]) == {"a": None}
    assert rates.update(12.0, [{"name": "a", "delivered": 600}]) == {"a": 250.0}
    # counters began again (the sink was replaced): no rate for this frame, then again
    assert rates.update(13.0, [{"name": "a", "delivered": 10}]) == {"a": None}
    assert rates.update(14.0, [{"name": "a", "delivered": 30}, {"name": "b", "delivered": 5}]) == {
        "a": 20.0,
        "b": None,
    }
    # a sink that went away is forgotten
    assert rates.update(15.0, [{"name": "b", "delivered": 5}]) == {"b": 0.0}
    assert rates.update(16.0, [{"name": "a", "delivered": 40}]) == {"a": None}


def test_owner_text() -> None:
    assert owner_text(None) == "-"
    assert owner_text({"member_id": "m-1", "host": "node-a", "pid": 41}) == "node-a:41"
    assert owner_text({"member_id": "m-1"}) == "m-1"
    assert owner_text("node-b:7") == "node-b:7"


SINKS = [
    {"name": "orders", "state": "RUNNING", "delivered": 5120, "failed": 0, "lag": 0},
    {
        "name": "payments-eu",
        "state": "FAILED",
        "delivered": 3,
        "failed": 2,
        "lag": 4410,
        "last_error": "kafka: TOPIC_AUTHORIZATION_FAILED:\nBroker: Topic authorization failed",
    },
]


def test_frame_text_standalone() -> None:
    poll = Poll(0.0, {"sinks": SINKS, "head_position": 98765, "last_reload": None})
    lines = _text(
        frame("127.0.0.1:7781", poll, {"orders": 1234.4, "payments-eu": 0.0}, clock="10:00:00")
    )
    assert lines == [
        "sinks top  127.0.0.1:7781  10:00:00  2 sinks, 1 running  head of $all: 98765",
        "NAME          STATE     EVENTS/S   DELIVERED   FAILED    LAG   LAST ERROR",
        "─" * 100,
        "orders        RUNNING      1,234        5120        0      0   -",
        "payments-eu   FAILED         0.0           3        2   4410   "
        "kafka: TOPIC_AUTHORIZATION_FAILED: B…",
        "q or Ctrl-C quits",
    ]


def test_frame_text_with_owners_and_reload_issues() -> None:
    owned = [
        {**SINKS[0], "owner": {"member_id": "m-1", "host": "node-a", "pid": 41}},
        {**SINKS[1], "last_error": None},
    ]
    reload = {"issues": ["sinks.d/x.yaml:3:5: error: topic: expected a string"]}
    poll = Poll(0.0, {"sinks": owned, "head_position": None, "last_reload": reload})
    lines = _text(frame("e:1", poll, {"orders": 5.0}, clock="10:00:00", live=False), width=90)
    assert lines == [
        "sinks top  e:1  10:00:00  2 sinks, 1 running  head of $all: -",
        "NAME          STATE     EVENTS/S   DELIVERED   FAILED    LAG   OWNER       LAST ERROR",
        "─" * 90,
        "orders        RUNNING        5.0        5120        0      0   node-a:41   -",
        "payments-eu   FAILED           -           3        2   4410   -           -",
        "sinks.d/x.yaml:3:5: error: topic: expected a string",
    ]


def test_frame_when_no_engine_answers() -> None:
    poll = Poll(0.0, None, "[Errno 111] Connection refused")
    assert _text(frame("127.0.0.1:9", poll, {}, clock="10:00:00")) == [
        "sinks top  127.0.0.1:9  10:00:00",
        "no engine answers at 127.0.0.1:9: [Errno 111] Connection refused; trying again",
    ]


class CountingSource:
    """A status source whose sink delivers 500 events per second of wall time."""

    last_reload = None

    def __init__(self) -> None:
        self.began = time.monotonic()

    def views(self) -> list[SinkView]:
        delivered = int((time.monotonic() - self.began) * 500)
        return [
            SinkView("orders", "RUNNING", None, "d", "sinks.d/o.yaml", True, delivered=delivered),
            SinkView(
                "payments-eu",
                "FAILED",
                "stopped",
                "e",
                "sinks.d/p.yaml",
                True,
                delivered=3,
                failed=2,
                last_error="kafka: TOPIC_AUTHORIZATION_FAILED",
            ),
        ]


@pytest.fixture
def engine_addr() -> Iterator[str]:
    server = StatusServer(CountingSource(), None, "127.0.0.1:0")
    server.start()
    yield server.address
    server.stop()


def test_once_prints_rates_from_two_polls(
    engine_addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["top", "--addr", engine_addr, "--once", "--interval", "0.5"]) == ExitCode.OK
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("orders "))
    rate = float(row.split()[2].replace(",", ""))
    assert 300 <= rate <= 700, row  # 500/s, measured over two polls half a second apart
    assert re.search(r"^payments-eu\s+FAILED\s+0\.0\s+3\s+2\s+-\s+kafka: TOPIC_AUTH", out, re.M)


def test_once_without_an_engine_exits_temporary(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["top", "--addr", f"127.0.0.1:{port}", "--once"]) == ExitCode.TEMPORARY
    assert f"no engine answers at 127.0.0.1:{port}" in capsys.readouterr().out


def test_interval_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--interval", "0"]) == ExitCode.USAGE
    assert capsys.readouterr().err == "sinks top: error: --interval must be above 0\n"


# ------------------------------------------------------------------ in a real terminal


class Tmux:
    """One private tmux server (its own socket) running one window."""

    def __init__(self) -> None:
        self.socket = f"sinks-top-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def capture(self) -> list[str]:
        return [line.rstrip() for line in self.tmux("capture-pane", "-p", "-t", "top").splitlines()]

    def wait_for(self, pattern: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if any(re.search(pattern, line) for line in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared:\n" + "\n".join(screen))
            time.sleep(0.2)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    session = Tmux()
    yield session
    subprocess.run(["tmux", "-L", session.socket, "kill-server"], capture_output=True, timeout=30)


def test_live_view_refreshes_in_a_terminal_and_quits_on_q(
    engine_addr: str, tmux: Tmux, tmp_path: Path
) -> None:
    done = tmp_path / "exit-code"
    # rich sizes its screen from COLUMNS/LINES when they are set (a shell may export the
    # size of the terminal pytest runs in); the pane's own size is what is wanted here.
    command = (
        f"env -u COLUMNS -u LINES {sys.executable} -m engine.cli.main top --addr {engine_addr} "
        f"--interval 0.3; echo $? > {done}; sleep 60"
    )
    tmux.tmux("new-session", "-d", "-s", "top", "-x", "110", "-y", "12", command)
    tmux.wait_for(r"^orders\s+RUNNING\s+\d")  # the second poll gave a rate
    first = tmux.capture()
    assert first[0].startswith(f"sinks top  {engine_addr}  ")
    assert first[0].endswith("2 sinks, 1 running  head of $all: -")
    assert re.fullmatch(
        r"NAME\s+STATE\s+EVENTS/S\s+DELIVERED\s+FAILED\s+LAG\s+LAST ERROR", first[1]
    )
    assert re.fullmatch(
        r"payments-eu\s+FAILED\s+0\.0\s+3\s+2\s+-\s+kafka: TOPIC_AUTHORIZATION_FAILED", first[4]
    )
    assert first[5] == "q or Ctrl-C quits"

    def delivered(screen: list[str]) -> int:
        row = next(line for line in screen if line.startswith("orders "))
        return int(row.split()[3])

    before = delivered(first)
    deadline = time.monotonic() + 10
    while delivered(tmux.capture()) <= before:  # the same screen is redrawn with new counts
        assert time.monotonic() < deadline, "the view did not refresh"
        time.sleep(0.2)

    tmux.tmux("send-keys", "-t", "top", "q")
    # The shell creates the file, then writes the exit code into it.
    code = wait_until(
        lambda: done.exists() and done.read_text().strip(),
        10,
        "sinks top to quit on q and its exit code to be written",
    )
    assert code == str(int(ExitCode.OK))


def test_every_styled_state_is_one_the_engine_shows() -> None:
    from engine.cli.cmd_top import STATE_STYLES
    from engine.runtime.worker_api import SinkState
    from engine.supervisor.supervisor import IdleState

    shown = {s.value for s in SinkState} | {s.value for s in IdleState}
    assert set(STATE_STYLES) <= shown
