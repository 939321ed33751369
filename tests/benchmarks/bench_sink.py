"""Sink throughput: the engine against raw client loops on the same data, same run.

Two comparisons, printed as one JSON document:

* ``hot_path``: pre-built records through the Mapper, the producer and delivery
  tracking into the real broker, against a raw confluent-kafka produce loop of the
  very same messages with the same producer configuration. Targets: ratio >= 0.5 and
  >= 100k events/s.
  ``delivery_only`` isolates the producer + tracking part on pre-mapped messages, and
  ``mapper_only_events_per_s`` the Mapper alone.
* ``end_to_end``: a sink (SinkWorker) reading through esdbclient from the stand-in
  (its own process) until every event is broker-confirmed, against a raw esdbclient
  ``subscribe_to_all`` loop that only counts the same events. Target: ratio >= 0.8.

Run: ``.venv/bin/python -m tests.benchmarks.bench_sink [--events N] [--e2e-events N]``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from confluent_kafka import Producer
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from engine.adapters.kafka import producer_config
from engine.mapping.filters import plan_subscription
from engine.mapping.pipeline import Mapper
from engine.model import Message, Record, SinkDefinition
from engine.runtime.delivery import DeliveryPipeline
from engine.runtime.gc_tuning import tune_collector
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from engine.settings import SinkSettings
from tests.benchmarks.harness import Comparison, Services, emit, services, timed

KEYS = 8
MAP_BATCH = 256  # as the worker maps


def sink_settings(topic: str, bootstrap: str, prefix: str) -> dict[str, Any]:
    return {
        "instanceTypeName": "kafka-sink",
        "topic": topic,
        "bootstrapServers": bootstrap,
        "subscription:initialPosition": "Earliest",
        "subscription:filter:scope": "Stream",
        "subscription:filter:filterType": "Prefix",
        "subscription:filter:expression": f"{prefix}-",
    }


def body(i: int) -> bytes:
    return json.dumps(
        {"orderId": f"order-{i}", "customer": f"c-{i % 97}", "amount": i % 1000, "n": i}
    ).encode()


def build_records(count: int) -> list[Record]:
    now = int(time.time() * 1000)
    return [
        Record(
            str(uuid.uuid4()),
            f"orders-k{i % KEYS}",
            i // KEYS,
            1000 + i * 180,
            now + i,
            "OrderPlaced",
            True,
            body(i),
            b'{"tenant": "acme", "$correlationId": "x"}',
        )
        for i in range(count)
    ]


# -- hot path ------------------------------------------------------------------------------


def hot_engine(settings: SinkSettings, records: list[Record]) -> None:
    """The worker's hot path: map runs of records, produce, track deliveries."""
    mapper = Mapper("bench", settings)
    pipeline = DeliveryPipeline(settings, client_id="bench-engine", capacity=100_000)
    send, skip = pipeline.send, pipeline.skip
    for start in range(0, len(records), MAP_BATCH):
        batch = records[start : start + MAP_BATCH]
        for record, message in zip(batch, mapper.map_batch(batch), strict=True):
            if message is None:
                skip(record.log_position)
            else:
                send(message, record.log_position)
    finish(pipeline, records[-1].log_position, len(records))


def delivery_engine(settings: SinkSettings, messages: list[Message]) -> None:
    """Producer and delivery tracking only, on pre-mapped messages."""
    pipeline = DeliveryPipeline(settings, client_id="bench-delivery", capacity=100_000)
    send = pipeline.send
    for message in messages:
        send(message, message.position)
    finish(pipeline, messages[-1].position, len(messages))


def finish(pipeline: DeliveryPipeline, last_position: int, count: int) -> None:
    assert pipeline.settle(lambda: False, limit_s=120)
    confirmed = pipeline.confirmed
    assert pipeline.failure is None, pipeline.failure
    assert confirmed is not None and confirmed.log_position == last_position
    assert pipeline.tracker.delivered == count
    pipeline.close(5)


def hot_raw(settings: SinkSettings, messages: list[Any]) -> None:
    producer = Producer(producer_config(settings, client_id="bench-raw"))
    delivered = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1

    for i, m in enumerate(messages):
        while True:
            try:
                producer.produce(
                    m.topic,
                    m.value,
                    m.key,
                    headers=list(m.headers),
                    timestamp=m.timestamp_ms,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 512 == 0:
            producer.poll(0)
    producer.flush(120)
    assert delivered == len(messages), delivered


def bench_hot(svc: Services, count: int, rounds: int) -> dict[str, Any]:
    topic = svc.create_topic(partitions=3)
    settings = SinkSettings.from_canonical(sink_settings(topic, svc.bootstrap, "orders"))
    records = build_records(count)
    mapper = Mapper("bench", settings)
    messages = [m for m in (mapper(r) for r in records) if m is not None]
    assert len(messages) == count
    comparison = Comparison("hot_path", targets={"ratio": 0.5, "rate": 100_000})
    delivery = Comparison("delivery_only", targets={"ratio": 0.5})
    hot_raw(settings, messages[:5000])  # warm up connections on both sides
    hot_engine(settings, records[:5000])
    for _ in range(rounds):
        raw = timed("raw", count, lambda: hot_raw(settings, messages))
        comparison.baseline.append(raw)
        delivery.baseline.append(raw)
        comparison.engine.append(timed("engine", count, lambda: hot_engine(settings, records)))
        delivery.engine.append(
            timed("delivery", count, lambda: delivery_engine(settings, messages))
        )
    mapper_rate = timed("mapper", count, lambda: map_only(mapper, records)).rate
    summary = comparison.summary()
    summary["delivery_only"] = delivery.summary()
    summary["mapper_only_events_per_s"] = round(mapper_rate)
    return summary


def map_only(mapper: Mapper, records: list[Record]) -> None:
    for start in range(0, len(records), MAP_BATCH):
        mapper.map_batch(records[start : start + MAP_BATCH])


# -- end to end ----------------------------------------------------------------------------


def load_events(url: str, prefix: str, count: int) -> None:
    client = EventStoreDBClient(url)
    try:
        batch = 500
        for start in range(0, count, batch):
            by_stream: dict[str, list[NewEvent]] = {}
            for i in range(start, min(start + batch, count)):
                by_stream.setdefault(f"{prefix}-k{i % KEYS}", []).append(
                    NewEvent(type="OrderPlaced", data=body(i), metadata=b'{"tenant": "acme"}')
                )
            for stream, events in by_stream.items():
                client.append_to_stream(stream, current_version=StreamState.ANY, events=events)
    finally:
        client.close()


def e2e_raw(url: str, settings: SinkSettings, count: int) -> None:
    plan = plan_subscription(settings)
    client = EventStoreDBClient(url)
    try:
        subscription = client.subscribe_to_all(
            filter_include=plan.filter_include,
            filter_exclude=plan.filter_exclude,
            filter_by_stream_name=plan.filter_by_stream_name,
            include_checkpoints=True,
        )
        seen = 0
        for event in subscription:
            if not event.is_checkpoint:
                seen += 1
                if seen >= count:
                    break
        subscription.stop()
    finally:
        client.close()


def e2e_engine(url: str, canonical: dict[str, Any], count: int) -> None:
    worker = SinkWorker(
        SinkDefinition(name=f"bench-{uuid.uuid4().hex[:8]}", settings=canonical),
        Connections(kurrentdb_url=url),
    )
    worker.start()
    try:
        while True:
            status = worker.status()
            if status.delivered >= count:
                break
            if status.state is SinkState.FAILED:
                raise RuntimeError(status.reason)
            time.sleep(0.01)
    finally:
        worker.stop(30)


def bench_e2e(svc: Services, count: int, rounds: int) -> dict[str, Any]:
    assert svc.kurrentdb_url is not None
    topic = svc.create_topic(partitions=3)
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    canonical = sink_settings(topic, svc.bootstrap, prefix)
    settings = SinkSettings.from_canonical(canonical)
    load_events(svc.kurrentdb_url, prefix, count)
    comparison = Comparison("end_to_end", targets={"ratio": 0.8})
    for _ in range(rounds):
        comparison.baseline.append(
            timed("raw", count, lambda: e2e_raw(svc.kurrentdb_url or "", settings, count))
        )
        comparison.engine.append(
            timed("engine", count, lambda: e2e_engine(svc.kurrentdb_url or "", canonical, count))
        )
    return comparison.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--e2e-events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's default collector thresholds instead of the ones `sinks run` sets",
    )
    args = parser.parse_args()
    if not args.default_gc:
        # The same collector settings `sinks run` applies; process-wide, so the raw
        # baselines run with them too.
        tune_collector()
    with services(with_kurrentdb=not args.skip_e2e) as svc:
        document: dict[str, Any] = {"benchmark": "bench_sink", "services": svc.notes}
        document["gc"] = "default" if args.default_gc else "engine (sinks run) settings"
        document["hot_path"] = bench_hot(svc, args.events, args.rounds)
        if not args.skip_e2e:
            document["end_to_end"] = bench_e2e(svc, args.e2e_events, args.rounds)
    emit(document)


if __name__ == "__main__":
    main()
