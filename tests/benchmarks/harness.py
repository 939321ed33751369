"""Reusable benchmark harness: services, timing, JSON output.

Benchmarks are scripts (not collected by pytest). Each compares the engine against
a baseline measured in the same run, on the same data, and prints one JSON document.
Services: the local KRaft broker (or ``KAFKA_BOOTSTRAP``) and the stand-in in its own
process (or ``KURRENTDB_URL``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic


@dataclass
class Trial:
    label: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Comparison:
    """The engine's runs against a baseline's, best of each (least disturbed by noise)."""

    name: str
    engine: list[Trial] = field(default_factory=list)
    baseline: list[Trial] = field(default_factory=list)
    targets: dict[str, float] = field(default_factory=dict)  # "ratio", "rate" minimums

    def best(self, trials: list[Trial]) -> float:
        return max(t.rate for t in trials) if trials else 0.0

    def summary(self) -> dict[str, Any]:
        engine, baseline = self.best(self.engine), self.best(self.baseline)
        ratio = engine / baseline if baseline else 0.0
        met = {
            "ratio": ratio >= self.targets.get("ratio", 0.0),
            "rate": engine >= self.targets.get("rate", 0.0),
        }
        return {
            "name": self.name,
            "engine_events_per_s": round(engine),
            "baseline_events_per_s": round(baseline),
            "ratio": round(ratio, 3),
            "engine_runs": [round(t.rate) for t in self.engine],
            "baseline_runs": [round(t.rate) for t in self.baseline],
            "median_ratio": round(
                statistics.median(t.rate for t in self.engine)
                / statistics.median(t.rate for t in self.baseline),
                3,
            )
            if self.engine and self.baseline
            else None,
            "targets": self.targets,
            "targets_met": met,
        }


def timed(label: str, events: int, run: Callable[[], None]) -> Trial:
    began = time.perf_counter()
    run()
    return Trial(label, events, time.perf_counter() - began)


def emit(document: dict[str, Any]) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


@dataclass
class Services:
    bootstrap: str
    kurrentdb_url: str | None
    notes: dict[str, str]

    def create_topic(self, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        admin.create_topics([topic])[name].result(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = admin.list_topics(name, timeout=10).topics.get(name)
            if (
                meta is not None
                and meta.error is None
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                break
            time.sleep(0.1)
        return name


@contextlib.contextmanager
def services(with_kurrentdb: bool = True) -> Iterator[Services]:
    """The broker and, if asked, the stand-in in its own process (or the env's servers)."""
    with contextlib.ExitStack() as stack:
        notes: dict[str, str] = {}
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        if bootstrap:
            notes["kafka"] = "external (KAFKA_BOOTSTRAP)"
        else:
            from engine.testbed.kafka import KafkaBroker

            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kafka-")))
            broker = KafkaBroker(work)
            broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap()
            notes["kafka"] = "local KRaft broker, 1 node"
        url = os.environ.get("KURRENTDB_URL")
        if with_kurrentdb and not url:
            from engine.testbed.standin import StandInProcess

            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kdb-")))
            standin = StandInProcess(data_dir=data)
            standin.start()
            stack.callback(standin.stop)
            url = standin.url
            notes["kurrentdb"] = "protocol stand-in in its own process"
        elif url:
            notes["kurrentdb"] = "external (KURRENTDB_URL)"
        yield Services(bootstrap, url if with_kurrentdb else None, notes)


def describe(trials: list[Trial]) -> list[dict[str, Any]]:
    return [dict(asdict(t), rate=round(t.rate)) for t in trials]
