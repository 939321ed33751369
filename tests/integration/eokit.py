"""Helpers of the exactly-once tests: sink files, ``sinks run`` processes, read_committed reads.

* ``eo_sink_yaml`` writes a sink file with ``delivery: {guarantee: exactlyOnce}`` that
  reads the streams ``<name>-k<i>`` (what ``sinkkit.append_numbered`` writes) and keys
  messages by stream suffix, so each key stays in one partition.
* The engine runs as ``tests.support.engines.EngineProcess`` (one ``sinks run`` process,
  restartable with the same ``engine_id``), fed by ``tests.support.writers.Writer``.
* ``read_committed`` reads a topic as a downstream consumer must for exactly once
  (``isolation.level=read_committed``); ``tally`` counts what it saw: every appended
  number seen ``copies`` times, and per key the numbers in order, ``copies`` passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from tests.fixtures.kafka import Consumed

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_TOPIC = "__sinks-engine.checkpoints"
MIRROR_OF = {"mirrorOf": f"kafka:{CHECKPOINT_TOPIC}"}


def unique_id(prefix: str = "eo") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def eo_sink_yaml(
    name: str,
    topic: str,
    bootstrap: str,
    *,
    guarantee: str | None = "exactlyOnce",
    interval_ms: int = 1000,
    threshold: int = 1000,
    extra: str = "",
    prefix: str | None = None,
) -> str:
    """A sink file reading ``<name>-*`` (or ``<prefix>*``) from the beginning, keyed by
    stream suffix (``guarantee`` None: no ``delivery`` block, the default guarantee)."""
    expression = prefix or f"{name}-"
    delivery = "" if guarantee is None else f"  delivery:\n    guarantee: {guarantee}\n"
    return (
        f"name: {name}\n"
        "settings:\n"
        "  instanceTypeName: kafka-sink\n"
        f"  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n"
        "  subscription:\n"
        f"    filter: {{scope: Stream, filterType: Prefix, expression: {expression}}}\n"
        "    initialPosition: Earliest\n"
        "  partitionKeyExtraction: {enabled: true, source: StreamSuffix}\n"
        f"  autocommit: {{interval: {interval_ms}, recordsThreshold: {threshold}}}\n"
        f"{delivery}"
        f"{extra}"
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` as an editor's save does (a hidden temp file, then rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def committed_consumer(bootstrap: str, isolation: str = "read_committed") -> Consumer:
    """A consumer that sees committed transactions only (no group offsets kept);
    ``read_uncommitted``: every record in the log, aborted ones too."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eo-reader-{uuid.uuid4().hex}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )


def read_committed(
    kafka: Any,
    topic: str,
    expected: int,
    timeout: float = 120,
    settle: float = 4.0,
    isolation: str = "read_committed",
) -> list[Consumed]:
    """Every committed record of ``topic``: read until ``expected`` arrived (or
    ``timeout``), then on until nothing new came for ``settle`` seconds (a duplicate
    committed late would show). Ordered by partition and offset. With ``isolation``
    ``read_uncommitted``: every record, those of aborted transactions too."""
    meta = kafka.admin().list_topics(topic, timeout=10).topics.get(topic)
    assert meta is not None and meta.error is None, f"no topic {topic}"
    consumer = committed_consumer(kafka.bootstrap, isolation)
    records: list[Consumed] = []
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in meta.partitions])  # -2: start
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            if len(records) >= expected and now - quiet_since >= settle:
                break
            if len(records) < expected and now > deadline:
                break
            batch = consumer.consume(1000, 0.2)
            for msg in batch:
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"read {topic}: {msg.error()}")
                records.append(
                    Consumed(
                        topic=msg.topic(),
                        partition=msg.partition(),
                        offset=msg.offset(),
                        key=msg.key(),
                        value=msg.value(),
                        headers=list(msg.headers() or []),
                        timestamp_ms=msg.timestamp()[1],
                    )
                )
            if batch:
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def kafka_checkpoint(kafka: Any, sink: str, timeout: float = 30) -> dict[str, Any] | None:
    """The sink's last committed checkpoint in ``__sinks-engine.checkpoints`` (None: none)."""
    meta = kafka.admin().list_topics(CHECKPOINT_TOPIC, timeout=10).topics.get(CHECKPOINT_TOPIC)
    if meta is None or meta.error is not None:
        return None
    consumer = committed_consumer(kafka.bootstrap)
    key = sink.encode()
    last: dict[str, Any] | None = None
    try:
        consumer.assign([TopicPartition(CHECKPOINT_TOPIC, p, -2) for p in meta.partitions])
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
            batch = consumer.consume(1000, 0.2)
            for msg in batch:
                if msg.error() is None and msg.key() == key and msg.value() is not None:
                    last = json.loads(msg.value())
            if batch:
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return last


def mirror_checkpoint(client: Any, sink: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(data, metadata) of the last event of ``$connectors/<sink>/checkpoints``."""
    try:
        events = client.get_stream(f"$connectors/{sink}/checkpoints", backwards=True, limit=1)
    except Exception:  # the stream does not exist
        return None
    if not events:
        return None
    metadata = json.loads(events[0].metadata) if events[0].metadata else {}
    return json.loads(events[0].data), metadata


@dataclass(frozen=True)
class Tally:
    appended: int
    copies: int  # how many times each event should be seen
    seen: int
    distinct: int
    duplicates: int  # messages beyond ``copies`` of their event
    missing: tuple[int, ...]  # events seen fewer than ``copies`` times
    out_of_order: tuple[str, ...]  # per key, the first place the sequence went wrong

    def line(self, label: str) -> str:
        return (
            f"[{label}] appended={self.appended} expected={self.appended * self.copies} "
            f"seen={self.seen} distinct={self.distinct} duplicates={self.duplicates} "
            f"missing={len(self.missing)} out_of_order={len(self.out_of_order)}"
        )


def tally(records: Iterable[Consumed], appended: int, copies: int = 1) -> Tally:
    """Count numbered events read back: ``copies`` of each of ``0..appended-1``, and per
    key (one partition each) the numbers ascending, ``copies`` times over."""
    numbers: list[int] = []
    per_key: dict[str, list[int]] = {}
    for record in records:
        body = json.loads(record.value or b"{}")
        numbers.append(body["n"])
        per_key.setdefault(body["key"], []).append(body["n"])
    counts = Counter(numbers)
    out_of_order = []
    for key, sequence in sorted(per_key.items()):
        wanted = sorted(set(sequence)) * copies
        if sequence != wanted:
            at = next(
                (i for i, (a, b) in enumerate(zip(sequence, wanted, strict=False)) if a != b),
                min(len(sequence), len(wanted)),
            )
            out_of_order.append(
                f"{key}: at #{at} got {sequence[at : at + 3]} expected {wanted[at : at + 3]}"
            )
    return Tally(
        appended=appended,
        copies=copies,
        seen=len(numbers),
        distinct=len(counts),
        duplicates=sum(max(0, c - copies) for c in counts.values()),
        missing=tuple(n for n in range(appended) if counts.get(n, 0) < copies),
        out_of_order=tuple(out_of_order),
    )


def assert_exact(result: Tally) -> None:
    assert result.missing == (), f"{len(result.missing)} missing, first {result.missing[:10]}"
    assert result.duplicates == 0, f"{result.duplicates} duplicates"
    assert result.seen == result.appended * result.copies
    assert result.out_of_order == (), result.out_of_order


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def log_events(lines: Sequence[dict[str, Any]], sink: str) -> list[dict[str, Any]]:
    """The log lines about ``sink`` (its ``name`` field, or listed in ``sinks``)."""
    return [
        line
        for line in lines
        if line.get("name") == sink or sink in str(line.get("sinks", "")).split(",")
    ]
