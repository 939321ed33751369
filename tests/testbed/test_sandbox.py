"""`sinks sandbox`: both services run in the background after the command exits,
answer real client requests, and stop on `sinks sandbox stop`."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.fixtures.kurrentdb_library import Client, NewEvent, StreamState

pytestmark = pytest.mark.integration


def sinks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sandbox"
    yield directory
    if (directory / "sandbox.json").exists():  # a failed test still stops the services
        sinks("stop", "--dir", str(directory))


def _running(pid: int) -> bool:
    # a stopped service may linger as a zombie until its adoptive parent reaps it
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sandbox_start_status_stop(sandbox_dir: Path) -> None:
    started = sinks(
        "start", "--dir", str(sandbox_dir), "--kafka-port", "0", "--kurrentdb-port", "0"
    )
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((sandbox_dir / "sandbox.json").read_text())
    assert f"(test server, not a database): {state['kurrentdb_url']}" in started.stdout
    assert f"Kafka SASL_SSL:        {state['kafka_bootstraps']['SASL_SSL']}" in started.stdout

    # the start command has exited; both services still answer real requests
    admin = AdminClient({"bootstrap.servers": state["kafka_bootstraps"]["PLAINTEXT"]})
    assert 1 in admin.list_topics(timeout=30).brokers
    client = Client(state["kurrentdb_url"])
    stream = f"sandbox-{uuid.uuid4().hex}"
    client.append_to_stream(
        stream, current_version=StreamState.NO_STREAM, events=[NewEvent(type="Pinged", data=b"{}")]
    )
    assert [e.type for e in client.get_stream(stream)] == ["Pinged"]
    client.close()

    status = sinks("status", "--dir", str(sandbox_dir))
    assert status.returncode == 0, status.stdout
    assert "kafka: running\nkurrentdb-standin: running\n" in status.stdout

    again = sinks("start", "--dir", str(sandbox_dir), "--kafka-port", "0", "--kurrentdb-port", "0")
    assert again.returncode == 1
    assert "a sandbox is already running in" in again.stdout

    stopped = sinks("stop", "--dir", str(sandbox_dir))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout == "kurrentdb-standin: stopped\nkafka: stopped\n"
    assert not _running(state["standin_pid"])
    assert not _running(state["kafka_pid"])

    after = sinks("status", "--dir", str(sandbox_dir))
    assert after.returncode == 1
    directory = sandbox_dir.resolve()
    assert after.stdout == (
        f"the sandbox in {directory} is stopped; its data is kept\n"
        f"start it with: sinks sandbox start --dir {directory}\n"
    )


def test_stop_without_a_sandbox_says_so(tmp_path: Path) -> None:
    result = sinks("stop", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == (
        f"sinks: error: no sandbox state in {tmp_path.resolve()} (was it started there?)\n"
    )


def test_a_busy_port_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        result = sinks(
            "start", "--dir", str(tmp_path), "--kafka-port", "0", "--kurrentdb-port", str(busy)
        )
    assert result.returncode == 1
    assert f"sinks: error: port {busy} on 127.0.0.1 is in use;" in result.stdout
