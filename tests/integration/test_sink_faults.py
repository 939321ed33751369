"""Faults mid-stream: every event ends up in Kafka (duplicates allowed, counted), per-key
order kept, and a non-transient failure stops the sink without skipping anything.

Each test prints ``appended / delivered / duplicated``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import CheckpointStore
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Cause, Connections, IncidentKind, SinkState
from tests.integration.sinkkit import (
    KEYED,
    Recorder,
    audit,
    definition,
    run_until_delivered,
    unique_name,
)
from tests.support.waits import came_true
from tests.support.writers import Writer, append_numbered, event

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def read_back(kafka_broker, topic: str, expected: int, timeout: float = 60):  # type: ignore[no-untyped-def]
    # Read until at least every appended event is there, then a little longer for duplicates.
    got = kafka_broker.consume(topic, expected, timeout=timeout)
    extra = kafka_broker.consume(topic, len(got) + 100_000, timeout=3)
    return extra if len(extra) > len(got) else got


def finish(label: str, kafka_broker, topic: str, appended: int):  # type: ignore[no-untyped-def]
    result = audit((c.value for c in read_back(kafka_broker, topic, appended)), appended)
    print(result.line(label))
    assert result.missing == (), f"{len(result.missing)} events missing, first {result.missing[:5]}"
    assert result.order_violations == ()
    return result


def test_broker_stopped_for_30s_mid_stream(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    if kafka_broker.external:
        pytest.skip("needs the local broker to stop it")
    kafka_broker.create_topic(topic, partitions=3)
    name = unique_name()
    count = 3000
    recorder = Recorder()
    worker = SinkWorker(
        definition(
            name, topic, kafka_broker.bootstrap, **KEYED, **{"autocommit:recordsThreshold": 200}
        ),
        Connections(kurrentdb.url),
        recorder,
    )
    worker.start()
    appender = Writer(kurrentdb.client(), name, count, rate=100)
    appender.start()
    try:
        assert came_true(lambda: worker.status().delivered >= 500, 60), worker.status()
        kafka_broker.stop()
        # The brokers are away: shown as such, while the producer keeps reconnecting.
        assert came_true(lambda: worker.status().lost == ("kafka",), 30), worker.status()
        during = worker.status()
        assert during.last_error is not None and during.last_error.startswith("kafka: ")
        assert during.last_error_at is not None
        # The outage's length is the point (the producer keeps reconnecting for 30 s
        # without the sink failing): there is no condition to wait for instead.
        time.sleep(30)
        kafka_broker.start()
        appender.join(120)
        assert appender.error is None, appender.error
        assert came_true(lambda: worker.status().read >= count, 120), worker.status()
        assert came_true(
            lambda: (
                worker.status().state is SinkState.RUNNING and worker.status().delivered >= count
            ),
            180,
        ), worker.status()
        assert came_true(lambda: worker.status().lost == (), 30), worker.status()
    finally:
        assert worker.stop(60)
    kinds = [(i.kind, i.cause) for i in recorder.incidents]
    assert (IncidentKind.LOST, Cause.KAFKA) in kinds and kinds[-1] == (
        IncidentKind.BACK,
        Cause.KAFKA,
    )
    assert worker.status().last_error is None  # healthy again: no stale error
    finish("broker stopped 30s", kafka_broker, topic, count)


def test_delivery_timeouts_are_retried_from_the_first_undelivered(
    kafka_broker, kurrentdb, topic
) -> None:  # type: ignore[no-untyped-def]
    # Messages time out after 3 s while the broker is away: each failure makes the sink
    # settle, wait transientErrorDelay and re-produce its window in order.
    if kafka_broker.external:
        pytest.skip("needs the local broker to stop it")
    kafka_broker.create_topic(topic, partitions=3)
    name = unique_name()
    count = 2000
    worker = SinkWorker(
        definition(
            name,
            topic,
            kafka_broker.bootstrap,
            **KEYED,
            **{"resilience:transientErrorDelay": "00:00:01"},
        ),
        Connections(kurrentdb.url),
        producer_overrides={"message.timeout.ms": 3000},
    )
    worker.start()
    appender = Writer(kurrentdb.client(), name, count, rate=150)
    appender.start()
    try:
        assert came_true(lambda: worker.status().delivered >= 300, 60), worker.status()
        kafka_broker.stop()
        # Messages time out, and those re-sent after transientErrorDelay time out again:
        # the second round of failures, with the broker still away, must not fail the sink.
        assert came_true(lambda: worker.status().failed > 0, 30), worker.status()
        first_round = worker.status().failed
        assert came_true(lambda: worker.status().failed > first_round, 30), worker.status()
        assert worker.status().state is not SinkState.FAILED
        kafka_broker.start()
        appender.join(120)
        assert appender.error is None, appender.error
        assert came_true(
            lambda: (worker.status().last_delivered_position or -1) >= appender.last_position, 180
        ), worker.status()
    finally:
        assert worker.stop(60)
    status = worker.status()
    finish("delivery timeouts retried", kafka_broker, topic, count)
    print(f"[delivery timeouts retried] failed_reports={status.failed}")


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"resilience:enabled": False}, "(resilience is disabled)"),
        ({"resilience:maxRetries": 2}, "(gave up after 2 retries)"),
    ],
)
def test_transient_failure_without_retries_left_fails(kurrentdb, settings, reason) -> None:  # type: ignore[no-untyped-def]
    name = unique_name()
    append_numbered(kurrentdb.client(), name, 3, keys=1)
    worker = SinkWorker(
        definition(name, "nowhere", "127.0.0.1:9", **settings),  # nothing listens there
        Connections(kurrentdb.url),
        producer_overrides={"message.timeout.ms": 1000},
    )
    worker.start()
    try:
        assert worker.wait_for(SinkState.FAILED, timeout=60), worker.status()
    finally:
        worker.stop(10)
    status = worker.status()
    assert status.reason is not None
    assert status.reason.startswith("delivery failed at position ")
    assert "_MSG_TIMED_OUT" in status.reason
    assert status.reason.endswith(reason)
    assert status.checkpoint_position is None


def test_kurrentdb_restarted_mid_stream(kafka_broker, kurrentdb_process, topic) -> None:  # type: ignore[no-untyped-def]
    if kurrentdb_process.external:
        pytest.skip("needs the stand-in to restart it")
    kafka_broker.create_topic(topic, partitions=3)
    name = unique_name()
    count = 3000
    recorder = Recorder()
    worker = SinkWorker(
        definition(name, topic, kafka_broker.bootstrap, **KEYED),
        Connections(kurrentdb_process.url),
        recorder,
    )
    seen_backoff: list[SinkState] = []

    worker.start()
    appender = Writer(kurrentdb_process.client(), name, count, rate=300)
    appender.start()
    try:
        assert came_true(lambda: worker.status().delivered >= 600, 60), worker.status()
        kurrentdb_process.restart()
        if worker.wait_for(SinkState.BACKOFF, timeout=20):
            seen_backoff.append(SinkState.BACKOFF)
        appender.join(180)
        assert appender.error is None, appender.error
        assert came_true(lambda: worker.status().delivered >= count, 180), worker.status()
    finally:
        assert worker.stop(60)
    assert seen_backoff == [SinkState.BACKOFF]
    kurrentdb_side = [i for i in recorder.incidents if i.cause is Cause.KURRENTDB]
    kinds = [i.kind for i in kurrentdb_side]
    assert kinds[:2] == [IncidentKind.BACKOFF, IncidentKind.LOST], recorder.incidents
    assert kinds[-1] is IncidentKind.BACK and kinds.count(IncidentKind.LOST) == kinds.count(
        IncidentKind.BACK
    )
    assert all(i.position is not None and i.position > 0 for i in kurrentdb_side)
    assert worker.status().last_error is None  # cleared once it was back
    assert worker.status().last_error_at is not None
    finish("kurrentdb restarted", kafka_broker, topic, count)


def _start_sink_process(spec: dict) -> subprocess.Popen[str]:  # type: ignore[type-arg]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.sink_process", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )


def _last_status(process: subprocess.Popen[str], until) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert process.stdout is not None
    status: dict = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + 120
    for line in process.stdout:
        status = json.loads(line)
        if until(status) or time.monotonic() > deadline:
            break
    return status


def test_sink_process_killed_and_restarted(kafka_broker, kurrentdb_process, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic, partitions=3)
    name = unique_name()
    count, threshold = 4000, 250
    sink = definition(
        name,
        topic,
        kafka_broker.bootstrap,
        **KEYED,
        **{"autocommit:recordsThreshold": threshold, "autocommit:interval": 600_000},
    )
    spec = {"name": name, "settings": sink.plain_canonical(), "url": kurrentdb_process.url}
    appender = Writer(kurrentdb_process.client(), name, count, rate=400)
    first = _start_sink_process(spec)
    appender.start()
    try:
        status = _last_status(
            first, lambda s: s["delivered"] >= 1200 and s["checkpoint"] is not None
        )
        assert status["delivered"] >= 1200, status
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    second = _start_sink_process(spec)
    try:
        appender.join(120)
        assert appender.error is None, appender.error
        assert came_true(lambda: len(kafka_broker.consume(topic, count, timeout=2)) >= count, 120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    result = finish("sink process SIGKILL", kafka_broker, topic, count)
    # Re-sent: what was confirmed after the last checkpoint (at most one records
    # threshold) plus what was in flight when the process died.
    print(
        f"[sink process SIGKILL] killed at delivered={status['delivered']} "
        f"checkpoint={status['checkpoint']} threshold={threshold}"
    )
    assert result.duplicated <= 2 * threshold, result


def test_message_over_the_size_limit_fails_without_skipping(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic, config={"max.message.bytes": "50000"})
    name = unique_name()
    client = kurrentdb.client()
    sink = definition(
        name,
        topic,
        kafka_broker.bootstrap,
        **KEYED,
        **{"compression:type": "None", "autocommit:recordsThreshold": 5},
    )
    append_numbered(client, name, 20, keys=1)
    recorder = Recorder()
    worker = SinkWorker(sink, Connections(kurrentdb.url), recorder)
    worker.start()
    try:
        assert came_true(lambda: worker.status().delivered >= 20, 60), worker.status()
        big = client.append_to_stream(
            f"{name}-k0", current_version=19, events=[event(20, key="k0", size=200_000)]
        )
        append_numbered(client, name, 10, keys=1, start=21)
        assert worker.wait_for(SinkState.FAILED, timeout=60), worker.status()
    finally:
        worker.stop(30)
    status = worker.status()
    assert status.reason == (
        f"delivery failed at position {big}: kafka: MSG_SIZE_TOO_LARGE: "
        "Broker: Message size too large (not a transient error)"
    )
    assert status.last_delivered_position is not None and status.last_delivered_position < big
    failed = [i for i in recorder.incidents if i.kind is IncidentKind.FAILED]
    assert [(i.cause, i.position, i.reason) for i in failed] == [
        (Cause.DELIVERY, big, status.reason)
    ]
    store_client = KurrentClient(kurrentdb.url)
    try:
        stored = CheckpointStore(store_client, name).load()
    finally:
        store_client.close()
    assert stored is not None and stored.position is not None
    assert stored.position.log_position == status.last_delivered_position < big
    before = [json.loads(c.value)["n"] for c in kafka_broker.consume(topic, 31, timeout=3)]
    assert before[:20] == list(range(20))
    assert 20 not in before
    # Batches already in flight behind the refused one may have been accepted: they
    # are sent again, in order, after the failed event once the sink resumes.
    ahead = before[20:]

    # Nothing was skipped: once the topic takes large messages, the sink resumes at the
    # failed event.
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    kafka_broker.admin().incremental_alter_configs([resource])[resource].result(timeout=30)
    run_until_delivered(sink, kurrentdb.url, 11)
    values = [c.value for c in read_back(kafka_broker, topic, 31 + len(ahead))]
    result = audit(values, 31)
    print(result.line("size limit, then limit raised"))
    print(
        f"[size limit] failed_at={big} checkpoint_at_failure={stored.position.log_position} "
        f"sent_ahead_of_failed={len(ahead)}"
    )
    assert result.missing == ()
    numbers = [json.loads(v)["n"] for v in values]
    assert numbers[len(before) :] == list(range(20, 31))  # resumed exactly at the failed event
    assert result.duplicated == len(ahead)
