"""Running ``sinks run --group`` processes against the real broker, and reading what they did.

Each ``GroupEngine`` is one member in its own process with its own status address.
Sinks are files in one folder shared by every member; sink ``<run>-sNN`` reads the
streams ``<run>-sNN-k<j>`` and writes to one topic for the whole run, so a single
read of that topic shows every sink's messages (``esdb-connector-id`` names the sink).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fixtures.kurrentdb_library import NewEvent, StreamState

ROOT = Path(__file__).resolve().parents[3]
SESSION_MS = 6000  # the broker's minimum session timeout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sink_file(name: str, topic: str, bootstrap: str, extra: str = "") -> str:
    return (
        f"name: {name}\n"
        "settings:\n"
        "  instanceTypeName: kafka-sink\n"
        f"  topic: {topic}\n"
        f"  bootstrapServers: {bootstrap}\n"
        "  subscription:\n"
        f"    filter: {{scope: Stream, filterType: Prefix, expression: {name}-}}\n"
        "    initialPosition: Earliest\n"
        "  partitionKeyExtraction: {enabled: true, source: StreamSuffix}\n"
        "  autocommit: {interval: 200, recordsThreshold: 100}\n"
        f"{extra}"
    )


@dataclass
class Fleet:
    """The sinks of one test: names, their folder, topic, and the servers."""

    folder: Path
    topic: str
    sinks: list[str]
    bootstrap: str
    kurrentdb_url: str
    group: str

    @classmethod
    def make(cls, folder: Path, bootstrap: str, kurrentdb_url: str, count: int) -> Fleet:
        run = uuid.uuid4().hex[:8]
        sinks = [f"g{run}-s{i:02d}" for i in range(count)]
        topic = f"group-{run}"
        for name in sinks:
            (folder / f"{name}.yaml").write_text(sink_file(name, topic, bootstrap))
        return cls(folder, topic, sinks, bootstrap, kurrentdb_url, f"g{run}")


class GroupEngine:
    def __init__(self, fleet: Fleet, *extra: str, log: Path | None = None) -> None:
        self.fleet = fleet
        self.port = free_port()
        self.log_path = log or fleet.folder.parent / f"member-{self.port}.log"
        self.command = [
            sys.executable,
            "-m",
            "engine.cli.main",
            "run",
            "--dir",
            str(fleet.folder),
            "--kurrentdb",
            fleet.kurrentdb_url,
            "--status-addr",
            f"127.0.0.1:{self.port}",
            "--shutdown-timeout",
            "20",
            "--log-format",
            "json",
            "--group",
            fleet.group,
            "--group-bootstrap",
            fleet.bootstrap,
            "--group-session-timeout-ms",
            str(SESSION_MS),
            *extra,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stderr=out, stdout=out)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            return None

    def running(self) -> set[str]:
        """Sinks this member runs now (RUNNING here)."""
        body = self.get("/sinks")
        if body is None:
            return set()
        return {s["name"] for s in body["sinks"] if s["state"] == "RUNNING"}

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # every thread's stack into its log
            time.sleep(1)
            self.proc.kill()
            return self.proc.wait()

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines


def wait_split(
    members: list[GroupEngine], sinks: Iterable[str], sizes: set[int], timeout: float
) -> float:
    """Wait until ``members`` run every sink exactly once, each a count in ``sizes``."""
    wanted = set(sinks)
    start = time.monotonic()
    last: list[set[str]] = []
    while time.monotonic() - start < timeout:
        last = [m.running() for m in members]
        if (
            set().union(*last) == wanted
            and sum(len(r) for r in last) == len(wanted)
            and all(len(r) in sizes for r in last)
        ):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"no split {sizes} in {timeout}s: {[sorted(r) for r in last]}")


class Writer:
    """Appends numbered events to every sink's streams, paced, in a thread."""

    def __init__(
        self, client: Any, sinks: list[str], per_sink: int, keys: int = 3, pause: float = 0.05
    ) -> None:
        self.client = client
        self.sinks = sinks
        self.per_sink = per_sink
        self.keys = keys
        self.pause = pause
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Writer:
        self.thread.start()
        return self

    def _run(self) -> None:
        batch = 20
        for start in range(0, self.per_sink, batch):
            for sink in self.sinks:
                for k in range(self.keys):
                    numbers = [
                        n
                        for n in range(start, min(start + batch, self.per_sink))
                        if n % self.keys == k
                    ]
                    events = [
                        NewEvent(type="Tick", data=json.dumps({"n": n}).encode()) for n in numbers
                    ]
                    if events:
                        self.client.append_to_stream(
                            f"{sink}-k{k}", current_version=StreamState.ANY, events=events
                        )
            time.sleep(self.pause)
        self.done.set()


@dataclass(frozen=True)
class Delivery:
    missing: dict[str, int]  # sink -> numbers never delivered
    duplicates: dict[str, int]  # sink -> messages delivered more than once
    rewinds: dict[str, int]  # sink -> most times one key's sequence went back


def delivered(kafka: Any, fleet: Fleet, per_sink: int, timeout: float = 60) -> Delivery:
    expected = per_sink * len(fleet.sinks)
    messages = kafka.consume(fleet.topic, expected, timeout=timeout)
    # Read a little longer for late duplicates once the expected count arrived.
    extra = kafka.consume(fleet.topic, expected + 10**9, timeout=3)
    if len(extra) > len(messages):
        messages = extra
    seen: dict[str, list[int]] = defaultdict(list)
    by_key: dict[tuple[str, bytes | None], list[int]] = defaultdict(list)
    for m in messages:
        sink = next(v.decode() for k, v in m.headers if k == "esdb-connector-id")
        n = int(json.loads(m.value)["n"])
        seen[sink].append(n)
        by_key[(sink, m.key)].append(n)
    missing = {s: per_sink - len(set(seen[s])) for s in fleet.sinks}
    duplicates = {s: len(seen[s]) - len(set(seen[s])) for s in fleet.sinks}
    rewinds: dict[str, int] = defaultdict(int)
    for (sink, _key), numbers in by_key.items():
        backs = sum(1 for a, b in itertools.pairwise(numbers) if b <= a)
        rewinds[sink] = max(rewinds[sink], backs)
    return Delivery(
        {s: n for s, n in missing.items() if n},
        {s: n for s, n in duplicates.items() if n},
        {s: n for s, n in rewinds.items() if n},
    )


def env_without_group() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SINKS_GROUP")}
