"""What exactly once costs: end-to-end events/s, ``exactlyOnce`` against ``atLeastOnce``.

The same events (``--events``, preloaded once into the stand-in, over ``--keys``
streams) are sent by a fresh sink each trial: a ``sinks run`` process with one sink
file reading from the beginning into a new topic, timed from the process start until
a ``read_committed`` consumer in this process has seen every event. Configurations,
interleaved round by round (ALO, EO, EO-large, ALO, ...) after one uncounted warm-up
trial, each sink with the default ``autocommit:interval``:

* ``atLeastOnce`` (the baseline), ``autocommit:recordsThreshold`` 1000 (the default);
* ``exactlyOnce`` with ``recordsThreshold`` 1000: one transaction, with its checkpoint
  record, per 1000 events;
* ``exactlyOnce`` with ``--large-threshold`` (10000): fewer, larger transactions,
  since the commit per transaction is what exactly once adds.

Per trial: ``events_per_s`` from the process start (start-up, fencing and the first
checkpoint read included), ``streaming_events_per_s`` from the first message seen to
the last (with exactly once the first message shows only once the first transaction
committed, so this one flatters it), and the engine process's CPU µs per event.
Ratios are EO over ALO, best of each (harness.Comparison) and of the medians;
target: >= 0.8. ``first_90pct_events_per_s`` counts 90% of the events over the time
until they were seen: it leaves out the tail, how long the last, partial transaction
of an exactly-once sink takes to commit once everything is read. After each trial the
topic is read on for a second, untimed, to count messages beyond the events
(``extra_messages``: 0 for exactly once).

    .venv/bin/python -m tests.benchmarks.bench_exactly_once [--events 100000] [--rounds 3]

The machine is shared: figures are noisy; compare the ratios, run several rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from tests.benchmarks.harness import Comparison, Services, Trial, emit, services
from tests.fixtures.kurrentdb_library import Client, NewEvent, StreamState
from tests.integration.eokit import committed_consumer, eo_sink_yaml, write_atomically
from tests.support.engines import EngineProcess

CLK = os.sysconf("SC_CLK_TCK")
TARGET_RATIO = 0.8


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def preload(url: str, prefix: str, events: int, keys: int) -> float:
    client = Client(url)
    began = time.monotonic()
    batch = 1000
    try:
        for start in range(0, events, batch):
            chunk = range(start, min(start + batch, events))
            for k in range(keys):
                numbers = [n for n in chunk if n % keys == k]
                payload = [
                    NewEvent(
                        type="OrderPlaced",
                        data=json.dumps(
                            {"n": n, "key": f"k{k}", "customer": f"c-{n % 97}", "amount": n % 1000}
                        ).encode(),
                    )
                    for n in numbers
                ]
                if payload:
                    client.append_to_stream(
                        f"{prefix}k{k}", current_version=StreamState.ANY, events=payload
                    )
    finally:
        client.close()
    return time.monotonic() - began


@dataclass(frozen=True)
class Config:
    label: str
    guarantee: str
    threshold: int
    interval_ms: int = 5000  # the default autocommit:interval


@dataclass(frozen=True)
class Result:
    config: str
    events: int
    total_s: float  # process start to the last event seen
    streaming_s: float  # first event seen to the last
    bulk_s: float  # process start to 90% of the events seen (leaves out the tail)
    cpu_us_per_event: float
    extra_messages: int

    @property
    def rate(self) -> float:
        return self.events / self.total_s

    @property
    def streaming_rate(self) -> float:
        return self.events / self.streaming_s if self.streaming_s > 0 else 0.0

    @property
    def bulk_rate(self) -> float:
        return 0.9 * self.events / self.bulk_s


def trial(
    svc: Services, prefix: str, config: Config, events: int, partitions: int, work: Path
) -> Result:
    assert svc.kurrentdb_url is not None
    run = uuid.uuid4().hex[:8]
    name = f"bench-{config.label}-{run}"
    topic = svc.create_topic(partitions=partitions)
    folder = work / f"sinks-{run}"
    folder.mkdir()
    write_atomically(
        folder / "sink.yaml",
        eo_sink_yaml(
            name,
            topic,
            svc.bootstrap,
            guarantee=config.guarantee,
            interval_ms=config.interval_ms,
            threshold=config.threshold,
            prefix=prefix,
        ),
    )
    consumer = committed_consumer(svc.bootstrap)
    consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
    engine = EngineProcess(
        folder, svc.kurrentdb_url, work / f"engine-{run}.log", engine_id=f"b{run}"
    )
    seen = 0
    first = last = bulk = 0.0
    began = time.monotonic()
    engine.start()
    assert engine.proc is not None
    try:
        deadline = began + 600
        while seen < events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{config.label}: {seen} of {events} seen in 600 s")
            batch = consumer.consume(5000, 0.1)
            got = sum(1 for m in batch if m.error() is None)
            if got:
                now = time.monotonic()
                if seen == 0:
                    first = now
                seen += got
                last = now
                if not bulk and seen >= 0.9 * events:
                    bulk = now - began
        cpu = proc_cpu_s(engine.proc.pid)
        quiet = time.monotonic() + 1.0
        while time.monotonic() < quiet:
            seen += sum(1 for m in consumer.consume(5000, 0.1) if m.error() is None)
    finally:
        consumer.close()
        code = engine.stop()
    if code != 0:
        raise RuntimeError(f"{config.label}: sinks run exited {code}: {engine.tail()}")
    return Result(
        config=config.label,
        events=events,
        total_s=last - began,
        streaming_s=last - first,
        bulk_s=bulk,
        cpu_us_per_event=cpu / events * 1e6,
        extra_messages=seen - events,
    )


def summarise(results: list[Result]) -> dict[str, Any]:
    return {
        "events_per_s": [round(r.rate) for r in results],
        "streaming_events_per_s": [round(r.streaming_rate) for r in results],
        "first_90pct_events_per_s": [round(r.bulk_rate) for r in results],
        "cpu_us_per_event": [round(r.cpu_us_per_event, 1) for r in results],
        "seconds": [round(r.total_s, 2) for r in results],
        "extra_messages": [r.extra_messages for r in results],
        "best_events_per_s": round(max(r.rate for r in results)),
        "median_events_per_s": round(statistics.median(r.rate for r in results)),
        "median_streaming_events_per_s": round(
            statistics.median(r.streaming_rate for r in results)
        ),
    }


def compare(name: str, eo: list[Result], alo: list[Result]) -> dict[str, Any]:
    comparison = Comparison(
        name,
        engine=[Trial(r.config, r.events, r.total_s) for r in eo],
        baseline=[Trial(r.config, r.events, r.total_s) for r in alo],
        targets={"ratio": TARGET_RATIO},
    )
    summary = comparison.summary()
    streaming = statistics.median(r.streaming_rate for r in eo) / statistics.median(
        r.streaming_rate for r in alo
    )
    bulk = statistics.median(r.bulk_rate for r in eo) / statistics.median(r.bulk_rate for r in alo)
    return {
        "ratio_best": summary["ratio"],
        "ratio_median": summary["median_ratio"],
        "ratio_median_streaming": round(streaming, 3),
        "ratio_median_first_90pct": round(bulk, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": summary["targets_met"]["ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--large-threshold", type=int, default=10_000)
    args = parser.parse_args()
    configs = [
        Config("atLeastOnce", "atLeastOnce", 1000),
        Config("exactlyOnce", "exactlyOnce", 1000),
        Config(f"exactlyOnce-{args.large_threshold}", "exactlyOnce", args.large_threshold),
    ]
    results: dict[str, list[Result]] = {c.label: [] for c in configs}
    with services() as svc, tempfile.TemporaryDirectory(prefix="bench-eo-") as scratch:
        assert svc.kurrentdb_url is not None
        prefix = f"eo-{uuid.uuid4().hex[:8]}-"
        preload_s = preload(svc.kurrentdb_url, prefix, args.events, args.keys)
        # Warm-up, not counted: the broker's first topics and transactions, the page cache.
        warm_up = trial(svc, prefix, configs[1], args.events, args.partitions, Path(scratch))
        order: list[str] = []
        for _ in range(args.rounds):
            for config in configs:
                results[config.label].append(
                    trial(svc, prefix, config, args.events, args.partitions, Path(scratch))
                )
                order.append(config.label)
        alo = results["atLeastOnce"]
        large = configs[2].label
        emit(
            {
                "name": "exactly_once_vs_at_least_once",
                "events": args.events,
                "keys": args.keys,
                "partitions": args.partitions,
                "rounds": args.rounds,
                "order": order,
                "preload_seconds": round(preload_s, 1),
                "warm_up_exactlyOnce_events_per_s": round(warm_up.rate),
                "services": svc.notes,
                "machine": {"cpus": os.cpu_count()},
                "measured": "sinks run process start -> read_committed consumer saw every event",
                "configs": {
                    c.label: {
                        "guarantee": c.guarantee,
                        "recordsThreshold": c.threshold,
                        **summarise(results[c.label]),
                    }
                    for c in configs
                },
                "exactlyOnce_vs_atLeastOnce": compare("eo-1000", results["exactlyOnce"], alo),
                f"exactlyOnce_{args.large_threshold}_vs_atLeastOnce": compare(
                    "eo-large", results[large], alo
                ),
            }
        )


if __name__ == "__main__":
    main()
