"""`sinks tap` against the real broker while the engine runs a sink from the KurrentDB
protocol (stand-in, or a real server with KURRENTDB_URL): only the tapped sink's new
messages are printed, masked, and the tap ends after --limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.kurrentdb_library import NewEvent, StreamState
from tests.support.engines import EngineInThread

pytestmark = pytest.mark.integration
SECRET = f"tok-{uuid.uuid4().hex[:10]}"


def sink_file(name: str, topic: str, bootstrap: str, prefix: str, auth: str = "") -> str:
    return (
        f"name: {name}\n"
        "settings:\n"
        "  instanceTypeName: kafka-sink\n"
        f"  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n"
        "  defaultHeaders:\n"
        "    X-Token: \"{{ secret('TAP_TOKEN') }}\"\n"
        "  subscription:\n"
        f"    filter: {{scope: Stream, filterType: Prefix, expression: {prefix}}}\n"
        "    initialPosition: Earliest\n"
        f"{auth}"
    )


class TapProcess:
    def __init__(self, root: Path, *args: str) -> None:
        env = {**os.environ, "TAP_TOKEN": SECRET}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "tap", "--dir", str(root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stderr is not None
        self.first_line = self.process.stderr.readline()  # printed once it is positioned

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, self.first_line + err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_TOKEN", SECRET)


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        (thing.kill if isinstance(thing, TapProcess) else thing.stop)()


def append(kurrentdb: Any, stream: str, values: list[dict[str, Any]]) -> None:
    events = [NewEvent(type="Tick", data=json.dumps(v).encode()) for v in values]
    kurrentdb.client().append_to_stream(stream, current_version=StreamState.ANY, events=events)


def test_tap_prints_only_new_messages_of_the_sink_masked(
    kafka_broker: Any,
    kurrentdb: Any,
    topic: str,
    tmp_path: Path,
    env_token: None,
    cleanup: list[Any],
) -> None:
    kafka_broker.create_topic(topic, partitions=2)
    root = tmp_path / "sinks.d"
    root.mkdir()
    tapped, other = kurrentdb.unique("tapped"), kurrentdb.unique("other")
    for name in (tapped, other):
        (root / f"{name}.yaml.j2").write_text(
            sink_file(name, topic, kafka_broker.bootstrap, f"{name}-")
        )
    append(kurrentdb, f"{tapped}-a", [{"n": 0}, {"n": 1}])  # before the tap: not shown
    engine = EngineInThread(root, kurrentdb_url=kurrentdb.url, status_addr=None, watch=False)
    cleanup.append(engine)
    engine.wait_delivered(tapped, 2)

    tap = TapProcess(root, tapped, "--limit", "3", "--format", "json")
    cleanup.append(tap)
    assert tap.first_line.startswith(
        f"tapping sink '{tapped}': topic '{topic}' at {kafka_broker.bootstrap}, "
        "from partition@offset 0@"
    ), tap.first_line
    append(kurrentdb, f"{other}-a", [{"n": 100}, {"n": 101}])  # another sink, same topic
    append(kurrentdb, f"{tapped}-a", [{"n": 2}, {"n": 3, "note": f"leaked {SECRET}"}, {"n": 4}])
    code, out, err = tap.finish()
    assert code == 0, err
    messages = [json.loads(line) for line in out.splitlines()]
    assert [json.loads(m["value"])["n"] for m in messages] == [2, 3, 4]
    assert json.loads(messages[1]["value"])["note"] == "leaked ***"
    for m in messages:
        headers = dict(m["headers"])
        assert headers["esdb-connector-id"] == tapped
        assert headers["X-Token"] == "***"
        assert headers["esdb-record-stream-id"] == f"{tapped}-a"
        assert m["topic"] == topic and m["partition"] in (0, 1) and m["offset"] >= 0
    assert SECRET not in out + err
    # what the tap printed is what the broker holds at those places
    held = {(c.partition, c.offset): c for c in kafka_broker.consume(topic, 9)}
    for m in messages:
        assert (
            held[(m["partition"], m["offset"])].value == m["value"].replace("***", SECRET).encode()
        )


def test_tap_text_format_and_a_topic_that_does_not_exist_yet(
    kafka_broker: Any,
    kurrentdb: Any,
    topic: str,
    tmp_path: Path,
    env_token: None,
    cleanup: list[Any],
) -> None:
    root = tmp_path / "sinks.d"
    root.mkdir()
    name = kurrentdb.unique("fresh")
    (root / f"{name}.yaml.j2").write_text(
        sink_file(name, topic, kafka_broker.bootstrap, f"{name}-")
    )
    tap = TapProcess(root, name, "--limit", "1")
    cleanup.append(tap)
    assert tap.first_line == (
        f"tapping sink '{name}': topic '{topic}' at {kafka_broker.bootstrap}, "
        "which does not exist yet; waiting for its first message\n"
    )
    append(kurrentdb, f"{name}-k1", [{"n": 7}])
    cleanup.append(
        EngineInThread(root, kurrentdb_url=kurrentdb.url, status_addr=None, watch=False)
    )  # its first message creates the topic
    code, out, err = tap.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{topic} partition=0 offset=0 key=(none)"
    assert lines[1].startswith(
        f"  headers: X-Token=***, esdb-connector-id={name}, esdb-request-id="
    )
    assert lines[2] == '  value: {"n": 7}'
    assert len(lines) == 3


def test_tap_uses_the_sinks_sasl_login(
    kafka_broker: Any,
    kurrentdb: Any,
    topic: str,
    tmp_path: Path,
    env_token: None,
    cleanup: list[Any],
) -> None:
    bootstrap = kafka_broker.bootstrap_for("SASL_PLAINTEXT")
    user, password = kafka_broker.credentials("SCRAM-SHA-256")
    kafka_broker.create_topic(topic)
    root = tmp_path / "sinks.d"
    root.mkdir()
    name = kurrentdb.unique("sasl")
    auth = (
        "  authentication:\n"
        "    securityProtocol: SaslPlaintext\n"
        "    saslMechanism: ScramSha256\n"
        f"    username: {user}\n"
        f"    password: {password}\n"
    )
    (root / f"{name}.yaml.j2").write_text(sink_file(name, topic, bootstrap, f"{name}-", auth))
    engine = EngineInThread(root, kurrentdb_url=kurrentdb.url, status_addr=None, watch=False)
    cleanup.append(engine)
    tap = TapProcess(root, name, "--limit", "1", "--format", "json")
    cleanup.append(tap)
    assert tap.first_line.startswith(f"tapping sink '{name}': topic '{topic}' at {bootstrap}, ")
    append(kurrentdb, f"{name}-x", [{"pw": password}])
    code, out, err = tap.finish()
    assert code == 0, err
    (message,) = [json.loads(line) for line in out.splitlines()]
    assert message["value"] == '{"pw": "***"}'  # a sensitive setting's value is masked too
    assert password not in out + err


def test_ctrl_c_ends_the_tap_cleanly(
    kafka_broker: Any,
    kurrentdb: Any,
    topic: str,
    tmp_path: Path,
    env_token: None,
    cleanup: list[Any],
) -> None:
    kafka_broker.create_topic(topic)
    root = tmp_path / "sinks.d"
    root.mkdir()
    name = kurrentdb.unique("quiet")
    (root / f"{name}.yaml.j2").write_text(
        sink_file(name, topic, kafka_broker.bootstrap, f"{name}-")
    )
    tap = TapProcess(root, name)
    cleanup.append(tap)
    assert tap.first_line.startswith(f"tapping sink '{name}': ")
    tap.process.send_signal(signal.SIGINT)
    code, out, err = tap.finish(timeout=30)
    assert (code, out) == (0, ""), err
