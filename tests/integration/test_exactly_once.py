"""``delivery:guarantee: exactlyOnce`` under faults: a read_committed consumer sees every
event once, in order per key.

Real broker (or ``KAFKA_BOOTSTRAP``), KurrentDB-protocol server in its own process (or
``KURRENTDB_URL``), the engine as ``sinks run`` processes. Events are numbered; each
test reads the sink's topic with ``isolation.level=read_committed`` and prints
``appended / seen / duplicates / missing``; every one asserts 0 missing, 0 duplicates
and each key's numbers in ascending order (``eokit.tally``).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster.groupkit import SESSION_MS, Fleet, group_member, wait_split
from tests.integration.eokit import (
    CHECKPOINT_TOPIC,
    MIRROR_OF,
    assert_exact,
    eo_sink_yaml,
    kafka_checkpoint,
    log_events,
    mirror_checkpoint,
    read_committed,
    run_cli,
    tally,
    unique_id,
    write_atomically,
)
from tests.support.engines import EngineProcess
from tests.support.waits import wait_until
from tests.support.writers import Writer, append_numbered

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COMMIT_INTERVAL_S = 3.0  # the broker test's transactions: open for up to this long
OUTAGE_S = 10.0  # how long the broker test's broker is away
ZOMBIE_INTERVAL_S = 8.0  # the frozen engine's transaction in the commit-on-waking test


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "sinks.d"
    path.mkdir()
    return path


@pytest.fixture
def engines() -> Iterator[list[EngineProcess]]:
    """Engines a test started (standalone or group members): stopped at the end, frozen
    ones woken first; a standalone one that does not stop fails the test."""
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        engine.stop(check=engine.group is None)


def running(status: dict[str, Any]) -> bool:
    return bool(status["state"] == "RUNNING")


def in_transaction(status: dict[str, Any]) -> bool:
    """The sink has sent records its last committed checkpoint does not cover yet."""
    delivered, committed = status["last_delivered_position"], status["checkpoint_position"]
    return delivered is not None and (committed is None or delivered > committed)


def aborted_records(kafka: Any, topic: str, committed: int) -> int:
    """How many records of ``topic`` only a read_uncommitted consumer sees."""
    everything = read_committed(kafka, topic, committed, timeout=60, isolation="read_uncommitted")
    return len(everything) - committed


def check_checkpoints(kafka: Any, client: Any, name: str, last_position: int) -> None:
    """After a graceful stop both checkpoints hold the last event; KurrentDB's mirrors."""
    in_kafka = kafka_checkpoint(kafka, name)
    assert in_kafka is not None, f"no checkpoint of {name} in {CHECKPOINT_TOPIC}"
    assert set(in_kafka) == {"logPosition", "streamRevision"}, in_kafka
    assert in_kafka["logPosition"] >= last_position, (in_kafka, last_position)
    mirror = mirror_checkpoint(client, name)
    assert mirror is not None, f"no $connectors/{name}/checkpoints"
    data, metadata = mirror
    assert data["logPosition"] == in_kafka["logPosition"], (data, in_kafka)
    assert metadata == MIRROR_OF, metadata
    print(f"[checkpoints] kafka={in_kafka} mirror={data} metadata={metadata}")


# ---------------------------------------------------------------------------- a. kills
def test_ten_sigkills_mid_stream_neither_lose_nor_repeat(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("kill"), unique_id("id")
    count, kills = 30_000, 10
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(name, topic, kafka_broker.bootstrap, interval_ms=500, threshold=500),
    )
    engine = EngineProcess(
        folder, kurrentdb_process.url, tmp_path / "engine.log", engine_id=engine_id
    )
    engines.append(engine)
    writer = Writer(kurrentdb_process.client(), name, count, rate=400)
    began = time.monotonic()
    writer.start()
    rng = random.Random(13)
    at_kill: list[tuple[int, Any]] = []
    for _ in range(kills):
        engine.start()
        # Mid-stream: after this run delivered something, at a random point of a transaction.
        engine.wait_sink(name, lambda s: running(s) and s["delivered"] > 0, 90)
        # The random moment is the point: kills land anywhere in a transaction of up to
        # 0.5 s (sending, committing, between two), not at a condition the test picks.
        time.sleep(rng.uniform(0.5, 3.0))
        status = engine.sink(name) or {}
        engine.kill()
        at_kill.append((status.get("delivered", -1), status.get("checkpoint_position")))
    engine.start()
    writer.finish(240)
    engine.wait_sink(name, running, 60)
    records = read_committed(kafka_broker, topic, count, timeout=180)
    elapsed = time.monotonic() - began
    result = tally(records, count)
    aborted = aborted_records(kafka_broker, topic, len(records))
    print(result.line("10 SIGKILLs"))
    print(f"[10 SIGKILLs] delivered/checkpoint per killed run: {at_kill}; {elapsed:.0f}s")
    print(f"[10 SIGKILLs] records of aborted transactions in the topic: {aborted}")
    assert engine.stop() == 0
    assert_exact(result)
    # The kills cut transactions that had sent records: read_committed had some to skip.
    assert aborted > 0
    assert engine.starts == kills + 1
    check_checkpoints(kafka_broker, kurrentdb_process.client(), name, writer.last_position)


# ---------------------------------------------------------------------------- b. broker
@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_broker_stopped_and_started_mid_transaction(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines, hard
) -> None:
    if kafka_broker.external:
        pytest.skip("needs the local broker to stop and start it (KAFKA_BOOTSTRAP is external)")
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("brk"), unique_id("id")
    count = 6000
    # Transactions of up to 3 s: the broker goes away with one open and half-sent.
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(
            name,
            topic,
            kafka_broker.bootstrap,
            interval_ms=int(COMMIT_INTERVAL_S * 1000),
            threshold=100_000,
        ),
    )
    engine = EngineProcess(
        folder, kurrentdb_process.url, tmp_path / "engine.log", engine_id=engine_id
    ).start()
    engines.append(engine)
    engine.wait_sink(name, running, 60)
    writer = Writer(kurrentdb_process.client(), name, count, rate=300)
    writer.start()
    engine.wait_sink(name, lambda s: s["read"] >= 1500, 60)
    before = engine.sink(name)
    kafka_broker.stop(hard=hard)
    # The outage's length is the point, not a condition: several transactions' worth,
    # so commits fall due while the broker is away. (Waiting instead for the sink to
    # report Kafka lost makes the outage as long as that takes: after a SIGKILL, about
    # a minute, until the open transaction's records fail.)
    time.sleep(OUTAGE_S)
    during = engine.sink(name)
    kafka_broker.start()
    writer.finish(120)
    status = engine.wait_sink(
        name, lambda s: s["read"] >= count and (s["last_delivered_position"] or -1) > 0, 120
    )
    records = read_committed(kafka_broker, topic, count, timeout=180)
    result = tally(records, count)
    label = f"broker {'SIGKILL' if hard else 'SIGTERM'} {OUTAGE_S:.0f}s"
    print(result.line(label))
    aborted = aborted_records(kafka_broker, topic, count)
    print(f"[{label}] records of aborted transactions: {aborted}")
    print(f"[{label}] before={_brief(before)} during={_brief(during)} after={_brief(status)}")
    final = engine.sink(name)
    assert engine.stop() == 0
    assert_exact(result)
    assert final is not None and final["state"] == "RUNNING", final
    assert during is not None and during["state"] != "FAILED", during


def _brief(status: dict[str, Any] | None) -> dict[str, Any] | None:
    if status is None:
        return None
    keys = ("state", "read", "delivered", "checkpoint_position", "dependencies_lost", "last_error")
    return {k: status.get(k) for k in keys}


# ------------------------------------------------------------------------- c. kurrentdb
def test_kurrentdb_server_restarted_mid_stream(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    if kurrentdb_process.external:
        pytest.skip("needs the stand-in to restart it (KURRENTDB_URL points at a real server)")
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("kdb"), unique_id("id")
    count = 6000
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(name, topic, kafka_broker.bootstrap, interval_ms=1000, threshold=500),
    )
    engine = EngineProcess(
        folder, kurrentdb_process.url, tmp_path / "engine.log", engine_id=engine_id
    ).start()
    engines.append(engine)
    engine.wait_sink(name, running, 60)
    writer = Writer(kurrentdb_process.client(), name, count, rate=300)
    writer.start()
    engine.wait_sink(name, lambda s: s["delivered"] >= 1500, 60)
    kurrentdb_process.restart()
    saw_backoff = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not saw_backoff:
        saw_backoff = (engine.sink(name) or {}).get("state") == "BACKOFF"
        time.sleep(0.05)
    writer.finish(180)
    engine.wait_sink(name, lambda s: running(s) and s["read"] >= count, 180)
    records = read_committed(kafka_broker, topic, count, timeout=180)
    result = tally(records, count)
    print(result.line("kurrentdb restarted"))
    print(f"[kurrentdb restarted] BACKOFF seen: {saw_backoff}; after: {_brief(engine.sink(name))}")
    assert engine.stop() == 0
    assert_exact(result)
    check_checkpoints(kafka_broker, kurrentdb_process.client(), name, writer.last_position)


# ----------------------------------------------------------------------------- d. reload
def test_reloads_of_the_sink_mid_stream_resume_from_its_checkpoint(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("rld"), unique_id("id")
    count, reloads = 8000, 5
    rate = 300  # events/s: a worker that delivered this many has sent for about 1 s
    path = folder / f"{name}.yaml"

    def text(generation: int) -> str:
        header = f"  defaultHeaders:\n    generation: '{generation}'\n"
        return eo_sink_yaml(
            name, topic, kafka_broker.bootstrap, interval_ms=1000, threshold=500, extra=header
        )

    write_atomically(path, text(0))
    engine = EngineProcess(
        folder, kurrentdb_process.url, tmp_path / "engine.log", engine_id=engine_id
    ).start()
    engines.append(engine)
    engine.wait_sink(name, running, 60)
    writer = Writer(kurrentdb_process.client(), name, count, rate=rate)
    writer.start()
    digests = [engine.wait_sink(name, running, 10)["digest"]]
    for generation in range(1, reloads + 1):
        # This worker has been sending for a while before the reload stops it.
        engine.wait_sink(name, lambda s: s["delivered"] >= rate, 60)
        write_atomically(path, text(generation))
        status = engine.wait_sink(name, lambda s: running(s) and s["digest"] not in digests, 60)
        digests.append(status["digest"])
    writer.finish(120)
    # The last worker's own counts start at its reload: wait for the last event instead.
    final = engine.wait_sink(
        name, lambda s: (s["last_delivered_position"] or -1) >= writer.last_position, 120
    )
    records = read_committed(kafka_broker, topic, count, timeout=180)
    result = tally(records, count)
    generations = [int(dict(r.headers).get("generation", b"-1").decode() or -1) for r in records]
    print(result.line(f"{reloads} reloads"))
    print(
        f"[{reloads} reloads] restarts={final['restarts']} messages per generation: "
        f"{sorted(Counter(generations).items())}"
    )
    assert engine.stop() == 0
    assert_exact(result)
    assert final["restarts"] == reloads, final
    # Stop before start, and nothing re-sent: in each partition the generations only grow.
    for partition in {r.partition for r in records}:
        ours = [g for r, g in zip(records, generations, strict=True) if r.partition == partition]
        assert ours == sorted(ours), f"partition {partition}: an older definition wrote later"
    assert generations and generations[-1] == reloads, generations[-5:]


# ----------------------------------------------------------------------------- e. zombie
def test_a_frozen_owner_is_fenced_and_writes_nothing_after_its_sink_moved(  # type: ignore[no-untyped-def]
    folder: Path, kafka_broker, kurrentdb_process, engines
) -> None:
    run = unique_id("z")
    sinks = [f"{run}-s0", f"{run}-s1"]
    topics = {s: f"eo-zombie-{s}" for s in sinks}
    for sink in sinks:
        kafka_broker.create_topic(topics[sink], partitions=3)
        write_atomically(
            folder / f"{sink}.yaml",
            eo_sink_yaml(
                sink, topics[sink], kafka_broker.bootstrap, interval_ms=500, threshold=200
            ),
        )
    fleet = Fleet(folder, "", sinks, kafka_broker.bootstrap, kurrentdb_process.url, run)
    a, b = group_member(fleet), group_member(fleet)
    engines += [a, b]
    wait_split([a, b], sinks, {1}, timeout=90)
    count = 4000
    writers = {s: Writer(kurrentdb_process.client(), s, count, rate=150) for s in sinks}
    for w in writers.values():
        w.start()
    (frozen,) = b.running()
    # b is mid-stream on its sink when it freezes: it has sent some of it already.
    wait_until(
        lambda: (b.get(f"/sinks/{frozen}") or {}).get("delivered", 0) > 0,
        30,
        f"{frozen} to deliver on member b before it is frozen",
    )
    b.signal(signal.SIGSTOP)
    frozen_at = time.time()
    moved_after = wait_split([a], sinks, {2}, timeout=SESSION_MS / 1000 + 30)
    # The new owner sends a while; the zombie's open transaction was fenced when it started.
    wait_until(
        lambda: (a.get(f"/sinks/{frozen}") or {}).get("delivered", 0) > 0,
        30,
        lambda: f"{frozen} to deliver on its new owner a: {a.get(f'/sinks/{frozen}')}",
    )
    b.signal(signal.SIGCONT)
    woke_at = time.monotonic()

    # The zombie stops the sink (fenced, or told it lost it) and is not running it.
    deadline = time.monotonic() + 60
    about: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        about = [
            line for line in log_events(b.log_lines(), frozen) if line.get("ts", 0) >= frozen_at
        ]
        stopped = any(
            line.get("event") in ("cluster.lost", "sink.stopped", "sink.failed")
            or "fenced" in str(line).lower()
            for line in about
        )
        if stopped:
            break
        time.sleep(0.2)
    print(f"[zombie] moved after {moved_after:.1f}s; zombie's log after waking: {about}")
    assert any(
        line.get("event") in ("cluster.lost", "sink.stopped", "sink.failed")
        or "fenced" in str(line).lower()
        for line in about
    ), f"the zombie's log says nothing of {frozen} stopping: {about}"
    zombie_view = b.get(f"/sinks/{frozen}") or {}
    print(f"[zombie] zombie's view of {frozen} {time.monotonic() - woke_at:.1f}s after SIGCONT:")
    print(f"         {_brief(zombie_view)} reason={zombie_view.get('reason')}")

    for w in writers.values():
        w.finish(180)
    for sink in sinks:
        result = tally(read_committed(kafka_broker, topics[sink], count, timeout=180), count)
        print(result.line(f"zombie {'frozen' if sink == frozen else 'other'} {sink}"))
        assert_exact(result)

    # While a member of the group owns it, the sink's checkpoint cannot be reset.
    refused = run_cli(
        "reset",
        frozen,
        "--earliest",
        "--dir",
        str(folder),
        "--kurrentdb",
        kurrentdb_process.url,
        "--status-addr",
        "127.0.0.1:9",  # no standalone engine there: the group is asked
        "--group",
        run,
        "--group-bootstrap",
        kafka_broker.bootstrap,
    )
    print(f"[zombie] reset in the group: exit={refused.returncode} {refused.stderr.strip()!r}")
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sinks: error: sink '{frozen}' is run by member "), last
    assert last.endswith(
        f" in group {run}; stop it (disable it or remove its file) before resetting its checkpoint"
    ), last


def test_a_frozen_standalone_engine_replaced_under_the_same_id_fails_fenced(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    # No group to tell the frozen engine it lost the sink: only the broker's fencing of
    # its transactional id stops it once it wakes.
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("zmb"), unique_id("id")
    count = 5000
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(name, topic, kafka_broker.bootstrap, interval_ms=2000, threshold=100_000),
    )
    url = kurrentdb_process.url
    zombie = EngineProcess(folder, url, tmp_path / "zombie.log", engine_id=engine_id).start()
    engines.append(zombie)
    zombie.wait_sink(name, running, 60)
    writer = Writer(kurrentdb_process.client(), name, count, rate=200)
    writer.start()
    # Frozen inside a transaction (of up to 2 s) that has sent records: delivered past
    # the last committed checkpoint.
    zombie.wait_sink(name, lambda s: s["delivered"] >= 500 and in_transaction(s), 60)
    assert zombie.proc is not None
    zombie.proc.send_signal(signal.SIGSTOP)
    successor = EngineProcess(folder, url, tmp_path / "successor.log", engine_id=engine_id).start()
    engines.append(successor)
    successor.wait_sink(name, lambda s: running(s) and s["delivered"] > 0, 90)
    zombie.proc.send_signal(signal.SIGCONT)
    try:
        status = zombie.wait_sink(name, lambda s: s["state"] != "RUNNING", 60)
    except AssertionError:  # still RUNNING: checked below, after the counts
        status = zombie.sink(name) or {}
    print(f"[standalone zombie] after SIGCONT: {_brief(status)} reason={status.get('reason')!r}")
    writer.finish(120)
    successor.wait_sink(
        name, lambda s: (s["last_delivered_position"] or -1) >= writer.last_position, 120
    )
    result = tally(read_committed(kafka_broker, topic, count, timeout=180), count)
    print(result.line("standalone zombie"))
    print(f"[standalone zombie] aborted records: {aborted_records(kafka_broker, topic, count)}")
    crashed = [line for line in zombie.tail(60).splitlines() if line.startswith("Exception in")]
    assert status.get("state") == "FAILED", (status, crashed, zombie.tail(30))
    assert "fenced" in (status.get("reason") or "").lower(), status
    failed = [
        (line.get("cause"), line.get("reason"))
        for line in log_events(zombie.log_lines(), name)
        if line["event"] == "sink.failed"
    ]
    assert failed == [("fenced", status["reason"])], failed
    assert successor.stop() == 0
    assert_exact(result)
    check_checkpoints(kafka_broker, kurrentdb_process.client(), name, writer.last_position)


def test_a_frozen_engine_whose_first_act_on_waking_is_its_commit_fails_fenced(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    # As above, but the zombie has nothing left to read when it wakes: all it does is
    # the commit that fell due while it was frozen, and the broker refuses it.
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("zmc"), unique_id("id")
    first, count = 2000, 3000
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(
            name,
            topic,
            kafka_broker.bootstrap,
            interval_ms=int(ZOMBIE_INTERVAL_S * 1000),
            threshold=100_000,
        ),
    )
    client = kurrentdb_process.client()
    positions = append_numbered(client, name, first, keys=4, batch=100)
    url = kurrentdb_process.url
    zombie = EngineProcess(folder, url, tmp_path / "zombie.log", engine_id=engine_id).start()
    engines.append(zombie)
    # Everything read, sent and acknowledged, in a transaction open for up to 8 s.
    zombie.wait_sink(name, lambda s: s["delivered"] >= first, 60)
    sent_at = time.monotonic()  # its transaction was open by then
    assert zombie.proc is not None
    zombie.proc.send_signal(signal.SIGSTOP)
    successor = EngineProcess(folder, url, tmp_path / "successor.log", engine_id=engine_id).start()
    engines.append(successor)
    successor.wait_sink(name, lambda s: (s["last_delivered_position"] or -1) >= max(positions), 60)
    # Time passing is the point: the zombie's commit falls due on its own clock (the
    # 8 s interval of a transaction open since before ``sent_at``), with no one to ask.
    time.sleep(max(0.0, ZOMBIE_INTERVAL_S - (time.monotonic() - sent_at)))
    zombie.proc.send_signal(signal.SIGCONT)
    # An idle zombie has nothing to write, so nothing tells it yet (no group, no lease):
    # its due commit does when the server's position markers moved it on, else its
    # first send of the events below. Either way it must end FAILED, fenced.
    positions += append_numbered(client, name, count - first, keys=4, start=first, batch=100)
    try:
        status = zombie.wait_sink(name, lambda s: s["state"] != "RUNNING", 60)
    except AssertionError:
        status = zombie.sink(name) or {}
    print(f"[zombie commit] after SIGCONT: {_brief(status)} reason={status.get('reason')!r}")
    successor.wait_sink(name, lambda s: (s["last_delivered_position"] or -1) >= max(positions), 60)
    result = tally(read_committed(kafka_broker, topic, count, timeout=120), count)
    print(result.line("zombie commit"))
    assert successor.stop() == 0
    assert_exact(result)
    crashed = [line for line in zombie.tail(60).splitlines() if line.startswith("Exception in")]
    assert status.get("state") == "FAILED", (status, crashed, zombie.tail(30))
    assert "fenced" in (status.get("reason") or "").lower(), status
    assert crashed == [], zombie.tail(40)


# ------------------------------------------------------------------------------ f. reset
def test_reset_earliest_sends_everything_once_more_and_is_refused_while_running(  # type: ignore[no-untyped-def]
    folder: Path, tmp_path: Path, kafka_broker, kurrentdb_process, topic, engines
) -> None:
    kafka_broker.create_topic(topic, partitions=3)
    name, engine_id = unique_id("rst"), unique_id("id")
    count = 3000
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(name, topic, kafka_broker.bootstrap, interval_ms=500, threshold=500),
    )
    client = kurrentdb_process.client()
    positions = append_numbered(client, name, count, keys=4, batch=100)
    engine = EngineProcess(
        folder, kurrentdb_process.url, tmp_path / "engine.log", engine_id=engine_id
    ).start()
    engines.append(engine)
    first = tally(read_committed(kafka_broker, topic, count, timeout=120), count)
    print(first.line("reset: first run"))
    assert_exact(first)
    engine.wait_sink(name, running, 10)

    common = ["--dir", str(folder), "--kurrentdb", kurrentdb_process.url]
    refused = run_cli(
        "reset", name, "--earliest", *common, "--engine-id", engine_id, "--status-addr", engine.addr
    )
    print(f"[reset: while running] exit={refused.returncode} stderr={refused.stderr.strip()!r}")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"sinks: error: sink '{name}' is RUNNING in the engine at {engine.addr}; "
        "stop it (disable it or remove its file) before resetting its checkpoint"
    )
    assert engine.sink(name)["state"] == "RUNNING"  # type: ignore[index]
    assert engine.stop() == 0
    check_checkpoints(kafka_broker, client, name, max(positions))
    unchanged = tally(read_committed(kafka_broker, topic, count, timeout=60), count)
    assert_exact(unchanged)  # the refused reset moved nothing

    done = run_cli(
        "reset", name, "--earliest", *common, "--engine-id", engine_id, "--status-addr", engine.addr
    )
    print(f"[reset: stopped] exit={done.returncode} stdout={done.stdout.strip()!r}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{name}: checkpoint reset in {CHECKPOINT_TOPIC} and $connectors/{name}/checkpoints: "
        "resumes from the beginning"
    )
    assert kafka_checkpoint(kafka_broker, name) == {"logPosition": None, "streamRevision": None}
    mirror = mirror_checkpoint(client, name)
    assert mirror is not None and mirror[0]["logPosition"] is None, mirror

    engine.start()
    again = tally(read_committed(kafka_broker, topic, 2 * count, timeout=120), count, copies=2)
    print(again.line("reset --earliest, second run"))
    assert engine.stop() == 0
    assert_exact(again)
    check_checkpoints(kafka_broker, client, name, max(positions))
