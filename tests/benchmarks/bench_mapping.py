"""Benchmark: per-event cost of ``Mapper`` for several setting combinations.

Each scenario maps the same N records (default 50,000: 200-byte JSON events with
a small metadata object where the scenario needs one), best of several runs.
Baseline in the same run: building a ``Message`` that copies the record's fields
and a constant header tuple (the least any mapping must do). Ratios are the
scenario's cost divided by the baseline's. Target: the plain path leaves room for
100k events/s per sink including the producer (~1.3 µs per ``produce()``), i.e.
well under 10 µs per event.

Scenarios: plain; metadata headers; the topic routed per event (``es.{category}``,
against "plain" for the fixed topic); partition key by regex; JSONPath filter;
transformer called per record (``mapper(record)``) and per batch of 500
(``mapper.map_batch``). Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_mapping.py [--events 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.mapping.pipeline import Mapper  # noqa: E402
from engine.specification.model import Message, Record  # noqa: E402
from engine.specification.settings import SinkSettings  # noqa: E402

TRANSFORM = "function transform(r) { r.value.total = r.value.qty * r.value.price; }"


def records(count: int, with_metadata: bool) -> list[Record]:
    metadata = b'{"region":"eu","tenant":"t-1","$correlationId":"c-9"}' if with_metadata else b""
    out = []
    for i in range(count):
        data = json.dumps(
            {
                "orderId": f"o-{i}",
                "qty": i % 7,
                "price": 12.5,
                "region": "eu" if i % 2 else "us",
                "note": "x" * 100,
            }
        ).encode()
        out.append(
            Record(
                f"00000000-0000-4000-8000-{i:012d}",
                f"order-{i % 1000}_data",
                i,
                1000 + i,
                1_700_000_000_000 + i,
                "OrderPlaced",
                True,
                data,
                metadata,
            )
        )
    return out


def settings(**extra: Any) -> SinkSettings:
    return SinkSettings.from_canonical(
        {"topic": "orders", "defaultHeaders": {"X-Source": "kurrentdb"}, **extra}
    )


def baseline(batch: Sequence[Record]) -> None:
    headers = (("X-Source", b"kurrentdb"), ("esdb-connector-id", b"bench"))
    for r in batch:
        Message("orders", None, r.value, headers, r.timestamp_ms, r.log_position, r.record_id)


def per_record(mapper: Mapper) -> Callable[[Sequence[Record]], None]:
    def run(batch: Sequence[Record]) -> None:
        for r in batch:
            mapper(r)

    return run


def batched(mapper: Mapper, size: int) -> Callable[[Sequence[Record]], None]:
    def run(batch: Sequence[Record]) -> None:
        for start in range(0, len(batch), size):
            mapper.map_batch(batch[start : start + size])

    return run


def best_us(work: Callable[[Sequence[Record]], None], batch: Sequence[Record], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work(batch)
        best = min(best, time.perf_counter() - started)
    return best / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    plain = records(args.events, with_metadata=False)
    meta = records(args.events, with_metadata=True)
    small = plain[: max(1, args.events // 25)]  # per-call V8 crossings are slow: fewer events
    js = base64.b64encode(TRANSFORM.encode()).decode()
    scenarios: list[tuple[str, Mapper, Callable[[Mapper], Callable[..., None]], list[Record]]] = [
        ("plain", Mapper("bench", settings()), per_record, plain),
        ("metadata_headers", Mapper("bench", settings()), per_record, meta),
        # Routing: the topic filled per event from the stream's category (1,000 streams,
        # one category); compare with "plain", the same events to a fixed topic.
        (
            "routed_topic_category",
            Mapper("bench", settings(topic="es.{category}")),
            per_record,
            plain,
        ),
        (
            "partition_key_regex",
            Mapper(
                "bench",
                settings(
                    **{
                        "partitionKeyExtraction:enabled": True,
                        "partitionKeyExtraction:source": "Stream",
                        "partitionKeyExtraction:expression": "^(.*)_data$",
                    }
                ),
            ),
            per_record,
            plain,
        ),
        (
            "jsonpath_filter",
            Mapper(
                "bench",
                settings(
                    **{
                        "subscription:filter:filterType": "JsonPath",
                        "subscription:filter:expression": "$[?($.value.region == 'eu')]",
                    }
                ),
            ),
            per_record,
            plain,
        ),
        (
            "transformer_per_record",
            Mapper("bench", settings(**{"transformer:enabled": True, "transformer:function": js})),
            per_record,
            small,
        ),
        (
            "transformer_batch_500",
            Mapper("bench", settings(**{"transformer:enabled": True, "transformer:function": js})),
            lambda m: batched(m, 500),
            plain,
        ),
    ]
    base = best_us(baseline, plain, args.runs)
    results = []
    for name, mapper, make, batch in scenarios:
        cost = best_us(make(mapper), batch, args.runs)
        mapper.close()
        results.append(
            {
                "scenario": name,
                "events": len(batch),
                "us_per_event": round(cost, 2),
                "events_per_s": round(1e6 / cost),
                "ratio_to_baseline": round(cost / base, 1),
            }
        )
    plain_cost = results[0]["us_per_event"]
    print(
        json.dumps(
            {
                "benchmark": "mapping",
                "runs": args.runs,
                "baseline": {"what": "Message with copied fields", "us_per_event": round(base, 2)},
                "scenarios": results,
                "target": {"plain_us_per_event_below": 10.0, "met": plain_cost < 10.0},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
