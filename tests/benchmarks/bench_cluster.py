"""Cluster mode: aggregate throughput with --processes 1 and 2, and hand-over times.

``python -m tests.benchmarks.bench_cluster [--events N] [--rounds R] [--handovers K]``

1. Throughput: 4 sinks, each with ``--events`` events waiting in its own streams.
   ``sinks run --group G --processes P`` runs them until every event is in the topic;
   the rate counts from the first message to the last. The members join first and
   the sink files appear afterwards, so no sink moves while it is measured. P = 1 and
   P = 2 alternate for ``--rounds`` rounds, each round with new sink names. The baseline
   is P = 1 in the same run; the broker and the KurrentDB-protocol server share the
   machine's cores with the engine.
2. Hand-over: two ``sinks run --group`` members with 4 sinks. Each time one member
   gets SIGTERM, the time until the other runs all 4 (flush, final checkpoint,
   rebalance, start from the checkpoint); then it is started again and the time
   until the sinks are split 2/2 again is measured too.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import emit, services
from tests.fixtures.kurrentdb_library import Client, NewEvent, StreamState
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SINKS = 4
KEYS = 4


def sink_yaml(name: str, topic: str, bootstrap: str) -> str:
    return (
        f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n"
        f"  subscription: {{filter: {{scope: Stream, filterType: Prefix, expression: {name}-}},"
        " initialPosition: Earliest}\n"
        "  partitionKeyExtraction: {enabled: true, source: StreamSuffix}\n"
    )


def get(addr: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=3) as r:
            return json.loads(r.read())
    except OSError:
        return None


def append(url: str, prefixes: list[str], events: int) -> None:
    client = Client(url)
    body = json.dumps({"n": 0, "pad": "x" * 150}).encode()
    for prefix in prefixes:
        for k in range(KEYS):
            stream = f"{prefix}-k{k}"
            for start in range(0, events // KEYS, 1000):
                count = min(1000, events // KEYS - start)
                batch = [NewEvent(type="Tick", data=body) for _ in range(count)]
                client.append_to_stream(stream, current_version=StreamState.ANY, events=batch)
    client.close()


def engine(folder: Path, url: str, bootstrap: str, group: str, port: int, *extra: str) -> Any:
    command = [
        sys.executable, "-m", "engine.cli.main", "run", "--dir", str(folder),
        "--kurrentdb", url, "--status-addr", f"127.0.0.1:{port}",
        "--group", group, "--group-bootstrap", bootstrap,
        "--group-session-timeout-ms", "6000", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)


def delivered(addrs: list[str]) -> tuple[int, set[str]]:
    total, running = 0, set()
    for addr in addrs:
        body = get(addr, "/sinks") or {"sinks": []}
        for s in body["sinks"]:
            if s.get("owner") and s["state"] != "REMOTE":
                total += int(s["delivered"])
            if s["state"] == "RUNNING":
                running.add(s["name"])
    return total, running


def in_topic(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (end minus start offsets of its partitions)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    try:
        meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        total = 0
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 5)
            total += high - low
        return total
    finally:
        consumer.close()


def throughput(url: str, bootstrap: str, processes: int, events: int) -> dict[str, Any]:
    """Members first, then the sinks: the group meets with no sinks, the events are
    stored, and only then do the sink files appear (a hot reload on every member), so
    the group assigns each sink once and none moves while the rate is measured."""
    run = uuid.uuid4().hex[:8]
    names = [f"c{run}-s{i}" for i in range(SINKS)]
    topic = f"bench-{run}"
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        port = free_port()
        proc = engine(folder, url, bootstrap, f"b{run}", port, "--processes", str(processes))
        try:
            # One process is the member itself; more are children listed by the parent.
            addrs: list[str] = [f"127.0.0.1:{port}"] if processes == 1 else []
            deadline = time.monotonic() + 60
            while len(addrs) < processes and time.monotonic() < deadline:
                body = get(f"127.0.0.1:{port}", "/members") or {"members": []}
                addrs = [m["status_addr"] for m in body["members"] if m["running"]]
                time.sleep(0.1)
            while time.monotonic() < deadline:  # every member has joined the group
                bodies = [get(a, "/sinks") for a in addrs]
                if all(b and b["group"] and b["group"]["member"]["member_id"] for b in bodies):
                    break
                time.sleep(0.1)
            append(url, names, events)
            for name in names:
                (folder / f"{name}.yaml").write_text(sink_yaml(name, topic, bootstrap))
            want = events * SINKS
            first = last = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                count = in_topic(bootstrap, topic)
                now = time.monotonic()
                if count and first is None:
                    first = (now, count)
                if count >= want:
                    last = (now, count)
                    break
                time.sleep(0.05)
            if first is None or last is None:
                raise RuntimeError(f"--processes {processes}: not every event was delivered")
            split = sorted(len(delivered([a])[1]) for a in addrs)
            rate = (last[1] - first[1]) / max(1e-9, last[0] - first[0])
            return {
                "processes": processes,
                "events": want,
                "sinks_per_member": split,
                "events_per_s": round(rate),
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(90)


def handovers(url: str, bootstrap: str, times: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    names = [f"h{run}-s{i}" for i in range(SINKS)]
    leave, rejoin = [], []
    with tempfile.TemporaryDirectory(prefix="bench-handover-") as tmp:
        folder = Path(tmp)
        for name in names:
            (folder / f"{name}.yaml").write_text(sink_yaml(name, f"bench-{run}", bootstrap))
        ports = [free_port(), free_port()]
        group = f"h{run}"
        procs = [engine(folder, url, bootstrap, group, p) for p in ports]
        addrs = [f"127.0.0.1:{p}" for p in ports]

        def split(wanted: list[int], limit: float) -> float:
            began = time.monotonic()
            while time.monotonic() - began < limit:
                counts = [len(delivered([a])[1]) for a in addrs]
                if counts == wanted:
                    return time.monotonic() - began
                time.sleep(0.02)
            raise RuntimeError(f"no split {wanted} within {limit}s")

        try:
            split([2, 2], 60)
            for i in range(times):
                who = i % 2
                began = time.monotonic()
                procs[who].send_signal(signal.SIGTERM)
                addrs_alive = addrs[1 - who]
                while len(delivered([addrs_alive])[1]) < SINKS:
                    if time.monotonic() - began > 60:
                        raise RuntimeError("hand-over took over 60 s")
                    time.sleep(0.02)
                leave.append(time.monotonic() - began)
                procs[who].wait(60)
                procs[who] = engine(folder, url, bootstrap, group, ports[who])
                rejoin.append(split([2, 2], 60))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(90)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    def figures(values: list[float]) -> dict[str, Any]:
        return {
            "p50": pct(values, 0.5),
            "p95": pct(values, 0.95),
            "all": [round(v, 3) for v in values],
        }

    return {"leave_s": figures(leave), "rejoin_s": figures(rejoin)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="events per sink")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--handovers", type=int, default=10)
    args = parser.parse_args()
    with services() as svc:
        assert svc.kurrentdb_url is not None
        rounds = []
        for _ in range(args.rounds):
            for processes in (1, 2):
                rounds.append(throughput(svc.kurrentdb_url, svc.bootstrap, processes, args.events))
        one = max(r["events_per_s"] for r in rounds if r["processes"] == 1)
        two = max(r["events_per_s"] for r in rounds if r["processes"] == 2)
        ratios = [
            b["events_per_s"] / a["events_per_s"]
            for a, b in zip(rounds[::2], rounds[1::2], strict=True)
        ]
        emit(
            {
                "benchmark": "cluster",
                "services": svc.notes,
                "sinks": SINKS,
                "throughput": {
                    "processes_1_events_per_s": one,
                    "processes_2_events_per_s": two,
                    "ratio_best": round(two / one, 2) if one else None,
                    "ratio_median_of_rounds": round(statistics.median(ratios), 2),
                    "rounds": rounds,
                },
                "handover": handovers(svc.kurrentdb_url, svc.bootstrap, args.handovers),
            }
        )


if __name__ == "__main__":
    main()
