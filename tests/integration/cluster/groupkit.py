"""Running ``sinks run --group`` processes against the real broker, and reading what they did.

Each ``group_member`` is one ``sinks run --group`` process (``tests.support.engines.EngineProcess``)
with its own status address; ``tests.support.writers.Writer`` appends to every sink.
Sinks are files in one folder shared by every member; sink ``<run>-sNN`` reads the
streams ``<run>-sNN-k<j>`` and writes to one topic for the whole run, so a single
read of that topic shows every sink's messages (``esdb-connector-id`` names the sink).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.engines import EngineProcess

SESSION_MS = 6000  # the broker's minimum session timeout
RATE = 400  # events per second and sink: the writer of every group test


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


def group_member(fleet: Fleet, *extra: str, log: Path | None = None) -> EngineProcess:
    """One member of the fleet's group, started (``extra``: more ``sinks run`` options,
    a later ``--group``/``--group-bootstrap`` replacing the fleet's)."""
    engine = EngineProcess(
        fleet.folder,
        fleet.kurrentdb_url,
        log or fleet.folder.parent / f"member-{uuid.uuid4().hex[:8]}.log",
        *extra,
        group=fleet.group,
        group_bootstrap=fleet.bootstrap,
        session_timeout_ms=SESSION_MS,
    )
    return engine.start()


def wait_split(
    members: list[EngineProcess], sinks: Iterable[str], sizes: set[int], timeout: float
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
