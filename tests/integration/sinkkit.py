"""Helpers shared by the sink integration tests: definitions, appends, runs, checks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, Incident, SinkState, WorkerStatus
from engine.specification.model import SinkDefinition
from tests.fixtures.kurrentdb_library import Client, NewEvent, StreamState

KEYED = {"partitionKeyExtraction:enabled": True, "partitionKeyExtraction:source": "StreamSuffix"}


def definition(name: str, topic: str, bootstrap: str, **settings: Any) -> SinkDefinition:
    """A sink reading the streams whose names start with ``<name>-`` from the beginning.

    Add ``**KEYED`` to key messages by stream suffix (``<name>-k3`` → ``k3``), so each
    key stays in one partition and per-key order can be checked in the topic.
    """
    canonical: dict[str, Any] = {
        "instanceTypeName": "kafka-sink",
        "topic": topic,
        "bootstrapServers": bootstrap,
        "subscription:initialPosition": "Earliest",
        "subscription:filter:scope": "Stream",
        "subscription:filter:filterType": "Prefix",
        "subscription:filter:expression": f"{name}-",
    }
    canonical.update(settings)
    return SinkDefinition.from_canonical(name, canonical)


def unique_name(prefix: str = "sink") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def event(
    n: int,
    *,
    key: str,
    data: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    event_type: str = "Counted",
    size: int = 0,
) -> NewEvent:
    body = dict(data or {"n": n, "key": key})
    if size:
        body["pad"] = "x" * size
    return NewEvent(
        type=event_type,
        data=json.dumps(body).encode(),
        metadata=json.dumps(dict(metadata or {})).encode(),
    )


def append_numbered(
    client: Client,
    sink: str,
    count: int,
    *,
    keys: int = 4,
    start: int = 0,
    rate: float | None = None,
    batch: int = 50,
) -> list[int]:
    """Append ``count`` events over ``keys`` streams ``<sink>-k<i>``; returns commit positions.

    With ``rate`` (events/s) the appends are paced, so faults land mid-stream.
    """
    positions: list[int] = []
    began = time.monotonic()
    n = start
    while n < start + count:
        chunk = range(n, min(n + batch, start + count))
        by_stream: dict[str, list[NewEvent]] = {}
        for i in chunk:
            key = f"k{i % keys}"
            by_stream.setdefault(f"{sink}-{key}", []).append(event(i, key=key))
        for stream, events in by_stream.items():
            positions.append(_append_retrying(client, stream, events))
        n = chunk.stop
        if rate:
            ahead = (n - start) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
    return positions


def _append_retrying(client: Client, stream: str, events: list[NewEvent]) -> int:
    # The server may be restarting under a fault test: keep trying the same events
    # (same ids) until the append is acknowledged.
    deadline = time.monotonic() + 120
    while True:
        try:
            return int(
                client.append_to_stream(stream, current_version=StreamState.ANY, events=events)
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Appender(threading.Thread):
    """Appends numbered events in the background at a steady rate."""

    def __init__(self, client: Client, sink: str, count: int, rate: float, keys: int = 4):
        super().__init__(daemon=True)
        self.client, self.sink, self.count, self.rate, self.keys = client, sink, count, rate, keys
        self.error: BaseException | None = None
        self.appended = 0
        self.last_position = -1

    def run(self) -> None:
        try:
            batch = 20
            for start in range(0, self.count, batch):
                positions = append_numbered(
                    self.client,
                    self.sink,
                    min(batch, self.count - start),
                    keys=self.keys,
                    start=start,
                    batch=batch,
                )
                self.last_position = max([self.last_position, *positions])
                self.appended = start + min(batch, self.count - start)
                time.sleep(batch / self.rate)
        except BaseException as exc:  # reported by the test
            self.error = exc


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Recorder:
    """A WorkerListener keeping every call."""

    def __init__(self) -> None:
        self.states: list[tuple[SinkState, str | None]] = []
        self.read = 0
        self.delivered = 0
        self.latencies: list[float] = []
        self.failed = 0
        self.checkpoints: list[int] = []
        self.incidents: list[Incident] = []

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None:
        self.states.append((state, reason))

    def on_read(self, sink: str, count: int) -> None:
        self.read += count

    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None:
        self.delivered += count
        self.latencies.extend(latencies_s)

    def on_failed(self, sink: str, count: int) -> None:
        self.failed += count

    def on_checkpoint(self, sink: str, position: int) -> None:
        self.checkpoints.append(position)

    def on_incident(self, sink: str, incident: Incident) -> None:
        self.incidents.append(incident)


def run_until_delivered(
    definition: SinkDefinition,
    url: str,
    count: int,
    timeout: float = 60,
    listener: Recorder | None = None,
) -> WorkerStatus:
    """Start a worker, wait until ``count`` messages are confirmed, stop it gracefully."""
    worker = SinkWorker(definition, Connections(kurrentdb_url=url), listener)
    worker.start()
    try:
        ok = wait_until(
            lambda: worker.status().delivered >= count or worker.status().state is SinkState.FAILED,
            timeout,
        )
        assert ok, f"only {worker.status().delivered} of {count} delivered: {worker.status()}"
    finally:
        assert worker.stop(30)
    return worker.status()


@dataclass(frozen=True)
class Audit:
    appended: int
    delivered: int  # messages found in the topic
    distinct: int
    duplicated: int
    missing: tuple[int, ...]
    order_violations: tuple[str, ...]

    def line(self, label: str) -> str:
        return (
            f"[{label}] appended={self.appended} delivered={self.delivered} "
            f"distinct={self.distinct} duplicated={self.duplicated} missing={len(self.missing)}"
        )


def audit(values: Iterable[bytes | None], appended: int) -> Audit:
    """Check at-least-once and per-key order of numbered events read back from Kafka.

    Per key, the sequence may rewind (a re-send after a failure or a restart) but
    never jump ahead: an event appears only after every earlier event of its key.
    """
    numbers: list[int] = []
    per_key: dict[str, list[int]] = {}
    for value in values:
        body = json.loads(value or b"{}")
        numbers.append(body["n"])
        per_key.setdefault(body["key"], []).append(body["n"])
    violations: list[str] = []
    for key, sequence in per_key.items():
        expected = sorted(set(sequence))
        rank = {n: i for i, n in enumerate(expected)}
        high = -1
        for n in sequence:
            if rank[n] > high + 1:
                violations.append(f"{key}: {n} arrived before {expected[high + 1]}")
                break
            high = max(high, rank[n])
    distinct = set(numbers)
    return Audit(
        appended=appended,
        delivered=len(numbers),
        distinct=len(distinct),
        duplicated=len(numbers) - len(distinct),
        missing=tuple(n for n in range(appended) if n not in distinct),
        order_violations=tuple(violations),
    )
