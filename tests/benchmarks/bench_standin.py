"""Benchmark: is the KurrentDB-protocol stand-in ever the bottleneck of a read?

Starts the stand-in in its own process (once per transport: h2, the default, and grpcio's
server as the baseline), appends N events of 200 bytes, then reads
them all with (a) a raw gRPC reader (a subscription through a plain stub, replies kept as
bytes, only the caught-up reply recognised) and (b) esdbclient's ``subscribe_to_all`` loop
(the way the engine reads). For each it measures events/s and CPU seconds per 100k events
of the server process (``/proc/<pid>/stat``) and of the reader (``time.process_time``, which
includes the client's gRPC threads). Target: server CPU per event <= half the esdbclient
reader's. Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_standin.py [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import grpc

from tests.fixtures.kurrentdb_library import (
    CaughtUp,
    Client,
    NewEvent,
    StreamState,
    shared_pb2,
    streams_pb2,
)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from engine.testbed.standin import StandInProcess
from engine.testbed.standin.frames import CAUGHT_UP
from engine.testbed.standin.process import cpu_seconds

PAYLOAD = (
    b'{"order":"%08d","amount":12.5,"currency":"EUR","customer":"c-0042","x":"' + b"y" * 122 + b'"}'
)


TARGET_RATIO = 0.5


def populate(client: Client, events: int, batch: int = 1000) -> None:
    written = 0
    stream = 0
    while written < events:
        size = min(batch, events - written)
        client.append_to_stream(
            f"bench-{stream}",
            current_version=StreamState.NO_STREAM,
            events=[
                NewEvent(type="OrderPlaced", data=PAYLOAD % (written + i)) for i in range(size)
            ],
        )
        written += size
        stream += 1


def measure(pid: int, read: Any) -> dict[str, float]:
    server_before = cpu_seconds(pid)
    reader_before = time.process_time()
    wall_before = time.perf_counter()
    count = read()
    wall = time.perf_counter() - wall_before
    reader = time.process_time() - reader_before
    server = cpu_seconds(pid) - server_before
    per_100k = 100_000 / count
    return {
        "events": count,
        "seconds": round(wall, 3),
        "events_per_s": round(count / wall),
        "server_cpu_s_per_100k": round(server * per_100k, 3),
        "reader_cpu_s_per_100k": round(reader * per_100k, 3),
        "server_to_reader_cpu": round(server / reader, 3),
    }


def raw_reader(url_target: str) -> int:
    options = streams_pb2.ReadReq.Options(
        all=streams_pb2.ReadReq.Options.AllOptions(start=shared_pb2.Empty()),
        subscription=streams_pb2.ReadReq.Options.SubscriptionOptions(),
        no_filter=shared_pb2.Empty(),
        uuid_option=streams_pb2.ReadReq.Options.UUIDOption(string=shared_pb2.Empty()),
    )
    with grpc.insecure_channel(
        url_target, options=[("grpc.max_receive_message_length", 17 * 1024 * 1024)]
    ) as channel:
        read = channel.unary_stream(
            "/event_store.client.streams.Streams/Read",
            request_serializer=streams_pb2.ReadReq.SerializeToString,
        )
        call = read(streams_pb2.ReadReq(options=options))
        count = -1  # the confirmation comes first
        for reply in call:
            if reply == CAUGHT_UP:
                break
            count += 1
        call.cancel()
    return count


def esdbclient_reader(client: Client) -> int:
    count = 0
    subscription = client.subscribe_to_all(include_caught_up=True)
    for event in subscription:
        if isinstance(event, CaughtUp):
            break
        count += 1
    subscription.stop()
    return count


def run_transport(transport: str, events: int, rounds: int) -> dict[str, Any]:
    with StandInProcess(transport=transport) as standin:
        client = Client(standin.url)
        started = time.perf_counter()
        populate(client, events)
        populate_s = time.perf_counter() - started
        target = f"{standin.host}:{standin.port}"
        raw = [measure(standin.pid, lambda: raw_reader(target)) for _ in range(rounds)]
        esdb = [measure(standin.pid, lambda: esdbclient_reader(client)) for _ in range(rounds)]
        client.close()
    best_esdb = max(esdb, key=lambda r: r["events_per_s"])
    ratio = best_esdb["server_cpu_s_per_100k"] / best_esdb["reader_cpu_s_per_100k"]
    return {
        "populate_events_per_s": round(events / populate_s),
        "raw_grpc_reader": raw,
        "raw_grpc_reader_best_events_per_s": max(r["events_per_s"] for r in raw),
        "esdbclient_subscribe_to_all": esdb,
        "esdbclient_best_events_per_s": best_esdb["events_per_s"],
        "server_cpu_per_event_vs_esdbclient_reader": round(ratio, 3),
        "target_met": ratio <= TARGET_RATIO,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--transports", default="h2,grpcio", help="comma-separated: h2 (default), grpcio"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "events": args.events,
        "event_bytes": len(PAYLOAD % 0),
        "target_ratio_at_most": TARGET_RATIO,
    }
    for transport in args.transports.split(","):
        result[transport] = run_transport(transport, args.events, args.rounds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
