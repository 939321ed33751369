"""Sink throughput: the engine against raw client loops on the same data, same run.

Two comparisons, printed as one JSON document:

* ``hot_path``: pre-built records through the Mapper, the producer and delivery
  tracking into the real broker, against a raw confluent-kafka produce loop of the
  very same messages with the same producer configuration. Targets: ratio >= 0.8 and
  >= 100k events/s.
  ``delivery_only`` isolates the producer + tracking part on pre-mapped messages, and
  ``mapper_only_events_per_s`` the Mapper alone.
* ``end_to_end``: a sink (the SinkWorker ``sinks run`` starts) reading from the
  stand-in (its own process) from earliest until every event is broker-confirmed,
  against three raw loops over the same events, interleaved round by round: a raw
  esdbclient ``subscribe_to_all`` loop that only counts, on grpc's default path
  (``raw_default_reader``) and on its single-threaded path (``raw_fast_reader``), and
  that fast reader feeding a raw confluent-kafka produce loop on one thread until
  every message is confirmed (``raw_pipeline``). Each loop reports events/s and
  process CPU µs per event (CPU seconds of this process ÷ events: the broker and the
  stand-in run in their own processes). Targets: engine ≥ 0.8 x ``raw_pipeline``,
  ≤ 25 µs CPU per event.

Run: ``.venv/bin/python -m tests.benchmarks.bench_sink [--events N] [--e2e-events N]``.
To see where the time goes, run it under ``py-spy record -t -f raw`` (in the test
extras); the README's figures name the parts that cost most per event.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer

from engine.adapters.kafka import producer_config
from engine.adapters.kurrentdb import SingleThreadedClient
from engine.mapping.filters import plan_subscription
from engine.mapping.pipeline import Mapper
from engine.runtime.delivery import DeliveryPipeline
from engine.runtime.gc_tuning import tune_collector
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from engine.specification.model import Message, Record, SinkDefinition
from engine.specification.settings import SinkSettings
from tests.benchmarks.harness import Comparison, Services, emit, services, timed
from tests.fixtures.kurrentdb_library import LIBRARY, Client, NewEvent, StreamState

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
    comparison = Comparison("hot_path", targets={"ratio": 0.8, "rate": 100_000})
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
    client = Client(url)
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


def _subscribe_raw(client: Client, settings: SinkSettings) -> Any:
    plan = plan_subscription(settings)
    return client.subscribe_to_all(
        filter_include=plan.filter_include,
        filter_exclude=plan.filter_exclude,
        filter_by_stream_name=plan.filter_by_stream_name,
        include_checkpoints=True,
    )


def e2e_reader(client_class: type[Client], url: str, settings: SinkSettings, count: int) -> None:
    """A raw esdbclient ``subscribe_to_all`` loop that only counts the events."""
    client = client_class(url)
    try:
        subscription = _subscribe_raw(client, settings)
        seen = 0
        for event in subscription:
            if not event.is_checkpoint:
                seen += 1
                if seen >= count:
                    break
        subscription.stop()
    finally:
        client.close()


def e2e_raw_pipeline(url: str, settings: SinkSettings, count: int) -> None:
    """The fast reader feeding a raw produce loop on one thread, until all is confirmed:
    key = stream name, the event's data as value, 8 ``esdb-*`` headers, the engine's
    producer configuration (acks=all, idempotence, zstd)."""
    producer = Producer(producer_config(settings, client_id="bench-raw-pipeline"))
    delivered = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1

    client = SingleThreadedClient(url)
    topic = settings.topic
    try:
        subscription = _subscribe_raw(client, settings)
        seen = 0
        for event in subscription:
            if event.is_checkpoint:
                continue
            stream = event.stream_name.encode()
            headers = [
                ("esdb-connector-id", b"raw"),
                ("esdb-record-id", str(event.id).encode()),
                ("esdb-record-stream-id", stream),
                ("esdb-record-stream-revision", b"%d" % event.stream_position),
                ("esdb-record-log-position", b"%d" % (event.commit_position or 0)),
                ("esdb-record-schema-subject", event.type.encode()),
                ("esdb-record-schema-type", b"json"),
                ("esdb-record-redacted", b"false"),
            ]
            while True:
                try:
                    producer.produce(
                        topic, event.data, stream, headers=headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
            if seen % 512 == 0:
                producer.poll(0)
            if seen >= count:
                break
        subscription.stop()
    finally:
        client.close()
    producer.flush(120)
    assert delivered == count, delivered


def e2e_engine(url: str, canonical: dict[str, Any], count: int) -> None:
    """One sink (the worker `sinks run` starts per sink) from earliest until every
    event is broker-confirmed."""
    worker = SinkWorker(
        SinkDefinition.from_canonical(f"bench-{uuid.uuid4().hex[:8]}", canonical),
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


@dataclass
class Loop:
    """One end-to-end loop's runs: events/s and process CPU µs per event."""

    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def run(self, count: int, action: Callable[[], None]) -> None:
        cpu = time.process_time()
        trial = timed("", count, action)
        self.rates.append(trial.rate)
        self.cpu_us.append((time.process_time() - cpu) / count * 1e6)

    def summary(self) -> dict[str, Any]:
        return {
            "best_events_per_s": round(max(self.rates)),
            "median_events_per_s": round(statistics.median(self.rates)),
            "runs_events_per_s": [round(r) for r in self.rates],
            "median_cpu_us_per_event": round(statistics.median(self.cpu_us), 1),
            "runs_cpu_us_per_event": [round(c, 1) for c in self.cpu_us],
        }


def bench_e2e(svc: Services, count: int, rounds: int) -> dict[str, Any]:
    url = svc.kurrentdb_url
    assert url is not None
    topic = svc.create_topic(partitions=3)
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    canonical = sink_settings(topic, svc.bootstrap, prefix)
    settings = SinkSettings.from_canonical(canonical)
    load_events(url, prefix, count)
    loops = {
        "engine": Loop(),
        "raw_default_reader": Loop(),
        "raw_fast_reader": Loop(),
        "raw_pipeline": Loop(),
    }
    actions: dict[str, Callable[[], None]] = {
        "engine": lambda: e2e_engine(url, canonical, count),
        "raw_default_reader": lambda: e2e_reader(Client, url, settings, count),
        "raw_fast_reader": lambda: e2e_reader(SingleThreadedClient, url, settings, count),
        "raw_pipeline": lambda: e2e_raw_pipeline(url, settings, count),
    }
    actions["raw_pipeline"]()  # warm up: broker connections, topic metadata
    for _ in range(rounds):  # interleaved, so a noisy moment hits every loop alike
        for name, loop in loops.items():
            loop.run(count, actions[name])
    engine = loops["engine"]
    result: dict[str, Any] = {"name": "end_to_end", "events": count, "rounds": rounds}
    result.update({name: loop.summary() for name, loop in loops.items()})
    result["ratios"] = {
        f"engine_vs_{name}": {
            "best": round(max(engine.rates) / max(loop.rates), 3),
            "median": round(statistics.median(engine.rates) / statistics.median(loop.rates), 3),
            "per_round": [round(e / b, 3) for e, b in zip(engine.rates, loop.rates, strict=True)],
        }
        for name, loop in loops.items()
        if name != "engine"
    }
    cpu = statistics.median(engine.cpu_us)
    result["targets"] = {"ratio_vs_raw_pipeline": 0.8, "engine_cpu_us_per_event": 25}
    result["targets_met"] = {
        "ratio_vs_raw_pipeline": result["ratios"]["engine_vs_raw_pipeline"]["median"] >= 0.8,
        "engine_cpu_us_per_event": cpu <= 25,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--e2e-events", type=int, default=60_000)
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
        document["kurrentdb_client"] = LIBRARY
        document["hot_path"] = bench_hot(svc, args.events, args.rounds)
        if not args.skip_e2e:
            document["end_to_end"] = bench_e2e(svc, args.e2e_events, args.rounds)
    emit(document)


if __name__ == "__main__":
    main()
