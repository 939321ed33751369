"""Benchmark the engine: reload latency, idle CPU of 100 sinks, RSS with Kafka away.

Figures (one JSON document on stdout):

* ``reload``: seconds from a sink file being written to the new definition
  delivering (its first broker-confirmed message), through the watcher, for a
  folder of 1 and of 100 sinks; p50/p95. Baseline in the same run: the same
  change applied without the watcher by a full load (a fresh ``ConfigSource``) and
  ``Supervisor.apply`` (the plain way to reload), so the ratio shows what the
  watcher's debounce costs and the incremental reload saves. Target: p50 < 0.5 s.
* ``idle_cpu``: CPU share of one core used by a ``sinks run`` process with 100
  idle sinks, against the same process with 1 idle sink.
* ``rss``: resident memory of a ``sinks run`` process whose one sink has 1M events
  waiting in the source while Kafka is unreachable (a port nothing listens on),
  against the same process idle with nothing to read. Target: < 300 MB.

The KurrentDB-protocol stand-in runs in its own process; Kafka is the local test
broker (or ``KAFKA_BOOTSTRAP``).

    .venv/bin/python tests/benchmarks/bench_engine.py [--rounds 10] [--events 1000000]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.config.source import ConfigSource  # noqa: E402
from engine.supervisor.app import EngineApp, EngineOptions  # noqa: E402
from engine.testbed.standin import StandInProcess  # noqa: E402
from tests.fixtures.kurrentdb_library import Client, NewEvent, StreamState  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def sink_yaml(name: str, topic: str, bootstrap: str, prefix: str) -> str:
    return (
        f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n  subscription:\n    filter:\n      scope: Stream\n"
        f"      filterType: Prefix\n      expression: {prefix}\n    initialPosition: Latest\n"
    )


def write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(statistics.median(values), 4),
        "p95_s": round(pct(values, 0.95), 4),
        "max_s": round(max(values), 4),
        "n": len(values),
        "samples_s": [round(v, 3) for v in values],
    }


def scratch(prefix: str) -> Path:
    """A temporary folder of sink files, removed when the benchmark exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


# ------------------------------------------------------------------------- reload
def reload_latency(url: str, bootstrap: str, sinks: int, rounds: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    folder = scratch("bench-sinks-")
    for i in range(sinks):
        write(
            folder / f"s{i:03}.yaml",
            sink_yaml(f"s{i:03}", f"b{i}-{run}", bootstrap, f"p{i}-{run}-"),
        )
    app = EngineApp(
        EngineOptions(sinks_dir=folder, kurrentdb_url=url, status_addr=None, start_grace=10.0)
    )
    first = app.load()
    assert first.result.ok, [d.format() for d in first.result.diagnostics]
    app.start(first)
    serving = threading.Thread(target=app.serve, daemon=True)
    serving.start()
    client = Client(uri=url)
    stop = threading.Event()

    def feed() -> None:  # keep events flowing into the measured sink's streams
        n = 0
        while not stop.is_set():
            client.append_to_stream(
                f"p0-{run}-x",
                current_version=StreamState.ANY,
                events=[NewEvent(type="Tick", data=json.dumps({"n": n}).encode())],
            )
            n += 1
            time.sleep(0.005)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()

    def delivering(old_digest: str, deadline: float) -> float:
        while time.monotonic() < deadline:
            worker = app.supervisor.worker("s000")
            if worker is not None:
                s = worker.status()
                if s.definition_digest != old_digest and s.delivered > 0:
                    return time.monotonic()
            time.sleep(0.002)
        raise TimeoutError("new definition not delivering within 30 s")

    def change(k: int, direct: bool) -> float:
        current = app.supervisor.worker("s000")
        assert current is not None
        old_digest = current.status().definition_digest
        text = sink_yaml("s000", f"b0-{run}-{k}", bootstrap, f"p0-{run}-")
        began = time.monotonic()
        write(folder / "s000.yaml", text)
        if direct:
            app.supervisor.apply(ConfigSource(folder).poll().desired)
        return delivering(old_digest, began + 30) - began

    try:
        assert app.watcher is not None
        change(-1, direct=False)  # warm-up (first full reload, a fresh broker's JIT), not counted
        watched = [change(k, direct=False) for k in range(rounds)]
        app.watcher.stop()  # baseline: no watcher, the same change applied directly
        direct = [change(rounds + k, direct=True) for k in range(rounds)]
    finally:
        stop.set()
        feeder.join(5)
        app.request_stop()
        app.shutdown()
        client.close()
    w, d = summary(watched), summary(direct)
    return {
        "sinks": sinks,
        "watched": w,
        "direct_apply_baseline": d,
        "ratio_p50_watched_vs_direct": round(w["p50_s"] / d["p50_s"], 2),
        "target_p50_s": 0.5,
        "meets_target": w["p50_s"] < 0.5,
    }


# ----------------------------------------------------------------- subprocesses
def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_engine(folder: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    """`sinks run` on ``folder`` in its own process (output dropped)."""
    command = [sys.executable, "-m", "engine.cli.main", "run", "--dir", str(folder)]
    return subprocess.Popen(
        [*command, "--kurrentdb", url, *extra], cwd=ROOT, stderr=subprocess.DEVNULL
    )


def run_engine(folder: Path, url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = start_engine(folder, url, "--status-addr", f"127.0.0.1:{port}")
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("sinks run did not become ready")


def stop_engine(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    return proc.wait(60)


def sample(pid: int, seconds: float, what: Callable[[int], float]) -> list[float]:
    values, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        values.append(what(pid))
        time.sleep(0.25)
    return values


def idle_cpu(url: str, bootstrap: str, seconds: float) -> dict[str, Any]:
    def measure(count: int) -> float:
        folder = scratch("bench-idle-")
        run = uuid.uuid4().hex[:6]
        for i in range(count):
            write(
                folder / f"s{i:03}.yaml",
                sink_yaml(f"i{i:03}", f"i{i}-{run}", bootstrap, f"q{i}-{run}-"),
            )
        proc, _ = run_engine(folder, url)
        try:
            time.sleep(2)  # let start-up work settle
            before, began = proc_cpu(proc.pid), time.monotonic()
            time.sleep(seconds)
            return (proc_cpu(proc.pid) - before) / (time.monotonic() - began)
        finally:
            stop_engine(proc)

    one, hundred = measure(1), measure(100)
    return {
        "seconds": seconds,
        "cpu_share_1_sink": round(one, 4),
        "cpu_share_100_sinks": round(hundred, 4),
        "ratio_100_vs_1": round(hundred / one, 2) if one else None,
        "per_sink_share": round(hundred / 100, 5),
    }


def rss_with_kafka_away(url: str, events: int, seconds: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    client = Client(uri=url)
    payload = (
        b'{"order":"00000001","amount":12.5,"currency":"EUR","customer":"c-0042","x":"'
        + b"y" * 90
        + b'"}'
    )
    began = time.monotonic()
    for start in range(0, events, 5000):
        client.append_to_stream(
            f"r-{run}-{start // 5000}",
            current_version=StreamState.NO_STREAM,
            events=[NewEvent(type="OrderPlaced", data=payload)] * min(5000, events - start),
        )
    append_s = time.monotonic() - began
    client.close()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: Kafka is away

    def measure(prefix: str) -> list[float]:
        folder = scratch("bench-rss-")
        text = sink_yaml("waiting", f"w-{run}", dead, prefix).replace("Latest", "Earliest")
        write(folder / "w.yaml", text)
        port_proc = start_engine(folder, url, "--status-addr", "off", "--shutdown-timeout", "5")
        try:
            return sample(port_proc.pid, seconds, proc_rss_mb)
        finally:
            port_proc.terminate()
            try:
                port_proc.wait(30)
            except subprocess.TimeoutExpired:
                port_proc.kill()

    loaded = measure(f"r-{run}-")
    idle = measure(f"nothing-{run}-")
    return {
        "events_waiting": events,
        "append_seconds": round(append_s, 1),
        "seconds_sampled": seconds,
        "peak_rss_mb": round(max(loaded), 1),
        "final_rss_mb": round(loaded[-1], 1),
        "baseline_idle_peak_rss_mb": round(max(idle), 1),
        "ratio_vs_idle": round(max(loaded) / max(idle), 2),
        "target_mb": 300,
        "meets_target": max(loaded) < 300,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rss-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("reload", "cpu", "rss"))
    args = parser.parse_args()
    standin = StandInProcess()
    standin.start()
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if not bootstrap:
        from engine.testbed.kafka import KafkaBroker

        broker = KafkaBroker(quiet=True)
        broker.start()
        bootstrap = broker.bootstrap()
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    try:
        if args.only in (None, "reload"):
            report["reload_1_sink"] = reload_latency(standin.url, bootstrap, 1, args.rounds)
            report["reload_100_sinks"] = reload_latency(standin.url, bootstrap, 100, args.rounds)
        if args.only in (None, "cpu"):
            report["idle_cpu"] = idle_cpu(standin.url, bootstrap, args.idle_seconds)
        if args.only in (None, "rss"):
            report["rss"] = rss_with_kafka_away(standin.url, args.events, args.rss_seconds)
    finally:
        standin.stop()
        if broker is not None:
            broker.cleanup()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
