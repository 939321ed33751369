"""Benchmark: what routing costs the mapper per event, against a fixed topic.

The same N records (default 50,000 JSON events of ~200 bytes over 1,000 streams of
four categories) are mapped to a fixed topic (the baseline) and to ``es.{category}``
and ``t.{metadata:tenant}`` (no per-stream memory: the metadata is read per event),
in interleaved rounds so that neither side gets the warmer machine; the median of
the rounds counts. CPU time per event (``process_time``) and events/s. Target: routing
costs at most 10 % of the CPU per event of the fixed topic. Prints one JSON document.

    .venv/bin/python -m tests.benchmarks.bench_routing [--events 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from engine.mapping.pipeline import Mapper
from engine.specification.model import Record
from engine.specification.settings import SinkSettings

CATEGORIES = ("order", "customer", "payment", "refund")


def records(count: int) -> list[Record]:
    out = []
    for i in range(count):
        data = json.dumps({"id": i, "qty": i % 7, "note": "x" * 150}).encode()
        stream = f"{CATEGORIES[i % 4]}-{i % 1000}"
        metadata = b'{"tenant":"t-%d"}' % (i % 10)
        out.append(
            Record(
                f"{i:032x}",
                stream,
                i,
                1000 + i,
                1_700_000_000_000 + i,
                "Placed",
                True,
                data,
                metadata,
            )
        )
    return out


def mapper(topic: str) -> Mapper:
    return Mapper("bench", SinkSettings.from_canonical({"topic": topic}))


def cpu_us(topic: str, batch: list[Record]) -> float:
    """CPU microseconds per event of mapping ``batch`` once (a fresh mapper, warmed)."""
    m = mapper(topic)
    for record in batch[:1000]:  # warm: the first events of a stream fill its memory
        m(record)
    started = time.process_time()
    for record in batch:
        m(record)
    return (time.process_time() - started) / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    batch = records(args.events)
    topics = {"fixed": "orders", "category": "es.{category}", "metadata": "t.{metadata:tenant}"}
    seen: dict[str, list[float]] = {name: [] for name in topics}
    for _ in range(args.rounds):
        for name, topic in topics.items():
            seen[name].append(cpu_us(topic, batch))
    fixed = statistics.median(seen["fixed"])
    result: dict[str, Any] = {"benchmark": "routing", "events": args.events, "rounds": args.rounds}
    for name in topics:
        median = statistics.median(seen[name])
        result[name] = {
            "topic": topics[name],
            "cpu_us_per_event": round(median, 2),
            "events_per_s": round(1e6 / median),
            "ratio_to_fixed": round(median / fixed, 3),
        }
    result["target"] = "routing costs at most 10 % more CPU per event than the fixed topic"
    result["met"] = result["category"]["ratio_to_fixed"] <= 1.10
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
