"""The engine end to end: real Kafka broker, KurrentDB protocol (stand-in or real), hot reload.

The engine runs in this process (``EngineApp``: config source, supervisor, real workers,
watcher, status HTTP) except for the SIGTERM test, which runs ``sinks run`` as a
subprocess. Sink files are replaced atomically, as an editor's save would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.checkpoints import checkpoint_stream
from tests.fixtures.kurrentdb_library import NewEvent, StreamState
from tests.support.engines import EngineInThread
from tests.support.ports import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# sink names unique per run: against a real KurrentDB their checkpoints outlive the run
_RUN = uuid.uuid4().hex[:6]
MOVER, QUIET, STEADY = f"mover-{_RUN}", f"quiet-{_RUN}", f"steady-{_RUN}"
PHOENIX, DURABLE = f"phoenix-{_RUN}", f"durable-{_RUN}"


def sink_yaml(name: str, topic: str, bootstrap: str, prefix: str, extra: str = "") -> str:
    return (
        f"name: {name}\n"
        "settings:\n"
        "  instanceTypeName: kafka-sink\n"
        f"  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n"
        "  subscription:\n"
        "    filter:\n"
        "      scope: Stream\n"
        "      filterType: Prefix\n"
        f"      expression: {prefix}\n"
        "    initialPosition: Earliest\n"
        "  autocommit:\n"
        "    interval: 200\n"
        f"{extra}"
    )


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a hidden temp file the loader skips, then rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def sinks_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sinks.d"
    d.mkdir()
    return d


@pytest.fixture
def engine_factory(sinks_dir: Path, kurrentdb: Any) -> Iterator[Callable[[], EngineInThread]]:
    engines: list[EngineInThread] = []

    def make() -> EngineInThread:
        engine = EngineInThread(
            sinks_dir,
            kurrentdb_url=kurrentdb.url,
            status_addr="127.0.0.1:0",
            shutdown_timeout=20.0,
            start_grace=5.0,
            head_interval=0.3,
        )
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.stop()


def append(kurrentdb: Any, stream: str, numbers: range) -> None:
    client = kurrentdb.client()
    events = [NewEvent(type="Tick", data=json.dumps({"n": n}).encode()) for n in numbers]
    client.append_to_stream(stream, current_version=StreamState.ANY, events=events)


def numbers_in(kafka: Any, topic: str, count: int, timeout: float = 30) -> list[int]:
    return [json.loads(m.value)["n"] for m in kafka.consume(topic, count, timeout=timeout)]


def test_topic_change_moves_delivery_without_loss(
    engine_factory: Callable[[], EngineInThread], sinks_dir: Path, kafka_broker: Any, kurrentdb: Any
) -> None:
    prefix = f"reload-{uuid.uuid4().hex[:8]}-"
    first, second = f"t1-{prefix}", f"t2-{prefix}"
    write(sinks_dir / "s.yaml", sink_yaml(MOVER, first, kafka_broker.bootstrap, prefix))
    engine = engine_factory()
    append(kurrentdb, prefix + "a", range(0, 50))
    engine.wait_delivered(MOVER, 50)
    result = engine.after_reload(
        lambda: write(
            sinks_dir / "s.yaml", sink_yaml(MOVER, second, kafka_broker.bootstrap, prefix)
        )
    )
    assert [c.name for c in result.plan.changed] == [MOVER]
    append(kurrentdb, prefix + "a", range(50, 100))
    engine.wait_delivered(MOVER, 50)  # the new worker's own count
    old = numbers_in(kafka_broker, first, 50)
    new = numbers_in(kafka_broker, second, 50)
    assert sorted(set(old) | set(new)) == list(range(100))  # nothing lost or skipped
    assert set(range(50, 100)) <= set(new)  # appended after the reload: the new topic
    assert new == sorted(new)  # in order
    assert engine.app.status is not None
    metrics = urllib.request.urlopen(f"http://{engine.app.status.address}/metrics").read().decode()
    line = rf'^sinks_messages_produced_total\{{sink="{MOVER}"\}} (\S+)$'
    produced = re.search(line, metrics, re.M)
    assert produced is not None and float(produced.group(1)) >= 100
    assert 'sinks_reloads_total{result="applied"} 2.0' in metrics  # the start and the change


def test_comment_only_edit_keeps_the_worker(
    engine_factory: Callable[[], EngineInThread], sinks_dir: Path, kafka_broker: Any
) -> None:
    prefix = f"cmt-{uuid.uuid4().hex[:8]}-"
    text = sink_yaml(QUIET, f"t-{prefix}", kafka_broker.bootstrap, prefix)
    write(sinks_dir / "q.yaml", text)
    engine = engine_factory()
    worker = engine.supervisor.worker(QUIET)
    result = engine.after_reload(lambda: write(sinks_dir / "q.yaml", "# reviewed\n" + text))
    assert result.plan.is_empty
    assert engine.supervisor.worker(QUIET) is worker


def test_invalid_edit_keeps_the_old_definition_delivering(
    engine_factory: Callable[[], EngineInThread], sinks_dir: Path, kafka_broker: Any, kurrentdb: Any
) -> None:
    prefix = f"bad-{uuid.uuid4().hex[:8]}-"
    topic = f"t-{prefix}"
    path = sinks_dir / "b.yaml"
    write(path, sink_yaml(STEADY, topic, kafka_broker.bootstrap, prefix))
    engine = engine_factory()
    broken = sink_yaml(
        STEADY, "other", kafka_broker.bootstrap, prefix, "  compression:\n    type: zsdt\n"
    )
    result = engine.after_reload(lambda: write(path, broken))
    assert result.rejected_files == (str(path),)
    append(kurrentdb, prefix + "x", range(10))
    engine.wait_delivered(STEADY, 10)
    assert sorted(numbers_in(kafka_broker, topic, 10)) == list(range(10))
    code, body = engine.get(f"/sinks/{STEADY}")
    assert code == 200 and body["state"] == "RUNNING"
    pattern = re.compile(re.escape(str(path)) + r":15:11: error: compression:type: 'zsdt' ")
    assert any(pattern.match(line) for line in body["issues"]), body["issues"]
    assert any(pattern.match(line) for line in body["last_reload"]["issues"])


def test_deleted_file_stops_its_sink_with_a_final_checkpoint(
    engine_factory: Callable[[], EngineInThread], sinks_dir: Path, kafka_broker: Any, kurrentdb: Any
) -> None:
    prefix = f"del-{uuid.uuid4().hex[:8]}-"
    name = f"gone-{prefix[4:-1]}"
    write(sinks_dir / "d.yaml", sink_yaml(name, f"t-{prefix}", kafka_broker.bootstrap, prefix))
    engine = engine_factory()
    append(kurrentdb, prefix + "x", range(20))
    engine.wait_delivered(name, 20)
    view = engine.supervisor.view(name)
    last = view.last_delivered_position
    result = engine.after_reload(lambda: (sinks_dir / "d.yaml").unlink())
    assert [d.name for d in result.plan.removed] == [name]
    assert engine.get(f"/sinks/{name}")[0] == 404
    stored = kurrentdb.client().get_stream(checkpoint_stream(name), backwards=True, limit=1)
    assert json.loads(stored[0].data)["logPosition"] >= last


def test_one_change_among_100_sinks_restarts_one(
    engine_factory: Callable[[], EngineInThread], sinks_dir: Path, kafka_broker: Any
) -> None:
    run = uuid.uuid4().hex[:6]
    for i in range(100):
        text = sink_yaml(f"s{i:03}-{run}", f"t{i}-{run}", kafka_broker.bootstrap, f"m{i}-{run}-")
        write(sinks_dir / f"s{i:03}.yaml", text)
    engine = engine_factory()
    workers = {n: engine.supervisor.worker(n) for n in engine.supervisor.definitions()}
    assert len(workers) == 100 and all(w is not None for w in workers.values())
    code, _ = engine.get("/readyz")
    assert code == 200
    text = sink_yaml(f"s042-{run}", f"t42b-{run}", kafka_broker.bootstrap, f"m42-{run}-")
    result = engine.after_reload(lambda: write(sinks_dir / "s042.yaml", text))
    assert [c.name for c in result.plan.changed] == [f"s042-{run}"]
    replaced = [n for n, w in workers.items() if engine.supervisor.worker(n) is not w]
    assert replaced == [f"s042-{run}"]


def test_new_definition_that_fails_at_start_is_rolled_back(
    engine_factory: Callable[[], EngineInThread],
    sinks_dir: Path,
    kafka_broker: Any,
    kurrentdb: Any,
    tmp_path: Path,
) -> None:
    prefix = f"rb-{uuid.uuid4().hex[:8]}-"
    topic = f"t-{prefix}"
    path = sinks_dir / "r.yaml"
    write(path, sink_yaml(PHOENIX, topic, kafka_broker.bootstrap, prefix))
    engine = engine_factory()
    missing_ca = tmp_path / "no-such-ca.pem"  # passes validation, the producer refuses it
    failing = sink_yaml(
        PHOENIX,
        f"t2-{prefix}",
        kafka_broker.bootstrap,
        prefix,
        f"  authentication:\n    securityProtocol: Ssl\n    caFile: {missing_ca}\n",
    )
    result = engine.after_reload(lambda: write(path, failing))
    assert [r.name for r in result.rolled_back] == [PHOENIX], result.to_json()
    view = engine.supervisor.view(PHOENIX)
    assert view.state == "RUNNING"
    assert view.digest == engine.supervisor.definitions()[PHOENIX].digest
    append(kurrentdb, prefix + "x", range(5))
    engine.wait_delivered(PHOENIX, 5)
    assert sorted(numbers_in(kafka_broker, topic, 5)) == list(range(5))


def test_sigterm_mid_stream_then_restart_loses_nothing(
    sinks_dir: Path, kafka_broker: Any, kurrentdb: Any
) -> None:
    prefix = f"term-{uuid.uuid4().hex[:8]}-"
    topic = f"t-{prefix}"
    write(sinks_dir / "t.yaml", sink_yaml(DURABLE, topic, kafka_broker.bootstrap, prefix))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "engine.cli.main",
        "run",
        "--dir",
        str(sinks_dir),
        "--kurrentdb",
        kurrentdb.url,
        "--status-addr",
        f"127.0.0.1:{port}",
        "--shutdown-timeout",
        "20",
    ]

    def delivered() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/sinks/{DURABLE}", timeout=2) as r:
                return int(json.loads(r.read())["delivered"])
        except OSError:
            return -1

    total = 6000
    writer_done = threading.Event()

    def writer() -> None:
        for start in range(0, total, 100):
            append(kurrentdb, prefix + "s", range(start, start + 100))
            time.sleep(0.03)
        writer_done.set()

    def wait_ready(deadline: float) -> None:
        while delivered() < 0:
            assert time.monotonic() < deadline, "sinks run did not answer on its status address"
            time.sleep(0.1)

    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(time.monotonic() + 60)
        threading.Thread(target=writer, daemon=True).start()
        deadline = time.monotonic() + 60
        while delivered() < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert writer_done.wait(60)
    before_restart = {json.loads(m.value)["n"] for m in kafka_broker.consume(topic, total, 5)}
    assert 300 <= len(before_restart) < total  # really stopped mid-stream
    again = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_ready(time.monotonic() + 60)
        got = numbers_in(kafka_broker, topic, total, timeout=90)
        # at least once: the restart may repeat a few, it must not miss any
        assert sorted(set(got)) == list(range(total))
        # `sinks status` against the running engine prints its table
        shown = subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "status", "--addr", f"127.0.0.1:{port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        header, *rows = shown.stdout.splitlines()
        assert header.split()[:4] == ["NAME", "STATE", "DELIVERED", "FAILED"]
        row = next(r.split() for r in rows if r.split()[0] == DURABLE)
        assert row[1] == "RUNNING" and int(row[2]) >= total - len(before_restart)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(60) == 0
