"""Exactly once across topics: a routed sink (``topic: "<base>.{streamSuffix}"``, one
topic per key) killed with SIGKILL mid-stream, read back by ``read_committed``
consumers: every event once, in order per key, each in its own topic. One transaction
spans the topics; the checkpoint record commits with it."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.eokit import (
    assert_exact,
    eo_sink_yaml,
    read_committed,
    tally,
    unique_id,
    write_atomically,
)
from tests.support.engines import EngineProcess
from tests.support.writers import Writer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEYS = 4


@pytest.fixture
def engine_log(tmp_path: Path) -> Path:
    return tmp_path / "engine.log"


@pytest.fixture
def engines() -> Iterator[list[EngineProcess]]:
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        engine.stop(check=False)


def test_sigkills_of_a_routed_sink_neither_lose_nor_repeat_in_any_topic(
    tmp_path: Path, engine_log: Path, kafka_broker: Any, kurrentdb_process: Any, engines: Any
) -> None:
    folder = tmp_path / "sinks.d"
    folder.mkdir()
    name, engine_id, base = unique_id("route"), unique_id("id"), unique_id("t")
    topics = [f"{base}.k{i}" for i in range(KEYS)]
    for topic in topics:
        kafka_broker.create_topic(topic, partitions=2)
    count, kills = 4_000, 3
    write_atomically(
        folder / f"{name}.yaml",
        eo_sink_yaml(
            name, f"{base}.{{streamSuffix}}", kafka_broker.bootstrap, interval_ms=500, threshold=500
        ),
    )
    engine = EngineProcess(folder, kurrentdb_process.url, engine_log, engine_id=engine_id)
    engines.append(engine)
    writer = Writer(kurrentdb_process.client(), name, count, keys=KEYS, rate=400).start()
    rng = random.Random(7)
    for _ in range(kills):
        engine.start()
        engine.wait_sink(name, lambda s: s["state"] == "RUNNING" and s["delivered"] > 0, 90)
        time.sleep(rng.uniform(0.5, 2.0))  # anywhere in a transaction of up to 0.5 s
        engine.kill()
    engine.start()
    writer.finish(120)
    engine.wait_sink(name, lambda s: s["state"] == "RUNNING", 60)
    records = []
    for index, topic in enumerate(topics):
        got = read_committed(kafka_broker, topic, count // KEYS, timeout=120)
        assert {r.value and r.value.count(b'"key": "k%d"' % index) for r in got} == {1}, topic
        records += got
    result = tally(records, count)
    print(result.line(f"{kills} SIGKILLs, {KEYS} topics"))
    assert engine.stop() == 0
    assert_exact(result)
