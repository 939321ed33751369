"""``sinks run --group``: several engine processes share the sinks of one folder.

Real broker, KurrentDB-protocol server in its own process (or a real KurrentDB), each
member its own ``sinks run`` process. What is pinned: a balanced split, only needed
moves on join, failover after SIGKILL with nothing lost, a frozen member fenced,
rolling restarts with neither loss nor duplicates, and two standalone engines on one
sink stopped with a plain error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster.groupkit import (
    RATE,
    SESSION_MS,
    Fleet,
    delivered,
    group_member,
    sink_file,
    wait_split,
)
from tests.support.engines import EngineProcess
from tests.support.waits import wait_until
from tests.support.writers import Writer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "sinks.d"
    path.mkdir()
    return path


@pytest.fixture
def members() -> Iterator[list[EngineProcess]]:
    started: list[EngineProcess] = []
    yield started
    for member in started:
        member.stop(check=False)


def fleet_of(folder: Path, kafka: Any, kurrentdb: Any, count: int) -> Fleet:
    return Fleet.make(folder, kafka.bootstrap, kurrentdb.url, count)


def delivered_any(member: EngineProcess, written: threading.Event) -> bool:
    """``member`` has delivered messages of some sink it runs, or ``written``: nothing
    more is coming."""
    body = member.get("/sinks") or {"sinks": []}
    return written.is_set() or any(s.get("delivered") for s in body["sinks"])


def wait_sending(
    member: EngineProcess,
    sinks: set[str],
    written: threading.Event | None = None,
    timeout: float = 30,
) -> None:
    """Wait until ``member`` has delivered messages of each of ``sinks``; once
    ``written`` is set, a sink caught up with nothing left to send counts too."""

    def waiting() -> set[str]:
        body = member.get("/sinks") or {"sinks": []}
        shown = {s["name"]: s for s in body["sinks"]}
        finished = written is not None and written.is_set()
        return {
            name
            for name in sinks
            if not (
                shown.get(name, {}).get("delivered")
                or (finished and shown.get(name, {}).get("caught_up"))
            )
        }

    wait_until(
        lambda: not waiting(),
        timeout,
        lambda: f"{sorted(sinks)} to deliver on {member.addr}; still waiting: {sorted(waiting())}",
    )


def test_twelve_sinks_split_evenly_over_two_then_three_members_moving_only_four(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 12)
    a, b = group_member(fleet), group_member(fleet)
    members += [a, b]
    wait_split([a, b], fleet.sinks, {6}, timeout=60)
    before = {id(m): m.running() for m in (a, b)}

    c = group_member(fleet)
    members.append(c)
    wait_split([a, b, c], fleet.sinks, {4}, timeout=60)
    moved = sum(len(before[id(m)] - m.running()) for m in (a, b))
    assert moved == 4
    assert all(before[id(m)] >= m.running() for m in (a, b))

    # Every member shows every sink of the group with the member that runs it (the
    # coordinator's view is read every 2 s, so it may trail the rebalance briefly).
    expected = {s: m.proc.pid for m in (a, b, c) for s in m.running() if m.proc is not None}
    deadline = time.monotonic() + 15
    while True:
        body = a.get("/sinks")
        shown = {s["name"]: (s["owner"] or {}).get("pid") for s in body["sinks"]}
        if shown == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown == expected
    states = {s["name"]: s["state"] for s in body["sinks"]}
    assert {states[n] for n in a.running()} == {"RUNNING"}
    assert {states[n] for n in set(fleet.sinks) - a.running()} == {"REMOTE"}
    assert body["group"]["name"] == fleet.group
    assert body["group"]["sinks_owned"] == 4 and len(body["group"]["members"]) == 3


def test_a_killed_member_s_sinks_resume_elsewhere_within_fifteen_seconds_losing_nothing(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 6)
    a, b = group_member(fleet), group_member(fleet)
    members += [a, b]
    wait_split([a, b], fleet.sinks, {3}, timeout=60)
    per_sink = 600
    writer = Writer(kurrentdb_process.client(), fleet.sinks, per_sink, rate=RATE, keys=3).start()
    wait_sending(b, b.running())  # killed mid-stream

    b.signal(signal.SIGKILL)
    failover = wait_split([a], fleet.sinks, {6}, timeout=30)
    assert failover < 15
    writer.finish(120)
    result = delivered(kafka_broker, fleet, per_sink, timeout=90)
    assert result.missing == {}
    print(f"failover {failover:.1f}s, duplicates {sum(result.duplicates.values())}")


def test_a_member_frozen_past_its_session_delivers_nothing_after_its_sinks_moved(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 4)
    a, b = group_member(fleet), group_member(fleet)
    members += [a, b]
    wait_split([a, b], fleet.sinks, {2}, timeout=60)
    frozen = b.running()
    per_sink = 600
    writer = Writer(kurrentdb_process.client(), fleet.sinks, per_sink, rate=RATE, keys=3).start()
    wait_sending(b, frozen)  # frozen mid-stream

    b.signal(signal.SIGSTOP)
    wait_split([a], fleet.sinks, {4}, timeout=SESSION_MS / 1000 + 20)
    wait_sending(a, frozen, writer.done)  # the new owner sends before the zombie wakes
    b.signal(signal.SIGCONT)
    writer.finish(120)

    result = delivered(kafka_broker, fleet, per_sink, timeout=90)
    assert result.missing == {}
    # The new owner went back once, to its checkpoint; a zombie write would be a second
    # step back in some key's sequence.
    assert all(result.rewinds.get(s, 0) <= 1 for s in frozen), result.rewinds
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
        line.get("event") == "cluster.lost" for line in b.log_lines()
    ):
        time.sleep(0.2)
    lost = [line for line in b.log_lines() if line.get("event") == "cluster.lost"]
    assert lost and set(lost[0]["sinks"].split(",")) == frozen


def test_a_rolling_restart_of_every_member_loses_and_repeats_nothing(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 6)
    trio = [group_member(fleet) for _ in range(3)]
    members += trio
    wait_split(trio, fleet.sinks, {2}, timeout=60)
    per_sink = 900
    writer = Writer(kurrentdb_process.client(), fleet.sinks, per_sink, rate=RATE, keys=3).start()

    for member in trio:
        # Restarted while the writer writes (once it is done, there is no mid-stream).
        wait_until(
            partial(delivered_any, member, writer.done),
            30,
            f"{member.addr} to deliver before its restart",
        )
        assert member.stop() == 0
        member.start()
        wait_split(trio, fleet.sinks, {1, 2, 3}, timeout=60)
    writer.finish(120)

    result = delivered(kafka_broker, fleet, per_sink, timeout=90)
    assert result.missing == {}
    assert result.duplicates == {}


def test_two_standalone_engines_on_one_sink_stop_the_second_with_a_plain_error(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 1)
    first = group_member(fleet, "--group", "")
    members.append(first)
    deadline = time.monotonic() + 60
    while first.running() != set(fleet.sinks):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = group_member(fleet, "--group", "")
    members.append(second)
    sink = fleet.sinks[0]

    def states() -> list[str | None]:
        # None: that engine is not answering on its status address yet
        return [(m.get(f"/sinks/{sink}") or {}).get("state") for m in (first, second)]

    # The two collide on the checkpoints they write for new events: both must be
    # reading before the events come.
    wait_until(lambda: states() == ["RUNNING", "RUNNING"], 60, "both engines to run the sink")
    writer = Writer(kurrentdb_process.client(), fleet.sinks, 300, rate=RATE, keys=3).start()
    writer.finish(60)

    def once_one_failed() -> list[str | None] | None:
        now = states()
        return now if "FAILED" in now else None

    shown = wait_until(
        once_one_failed, 30, lambda: f"one of the two engines to fail {sink}: {states()}"
    )
    assert sorted(shown, key=str) == ["FAILED", "RUNNING"]
    loser = (first, second)[shown.index("FAILED")]
    error = loser.get(f"/sinks/{sink}")["last_error"]
    assert error.startswith(f"another engine is writing the checkpoints of sink {sink}")


def test_processes_two_runs_two_members_under_one_parent_that_restarts_a_dead_one(
    folder: Path, kafka_broker: Any, kurrentdb_process: Any, members: list[EngineProcess]
) -> None:
    fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 4)
    parent = group_member(fleet, "--processes", "2")
    members.append(parent)

    def children() -> list[dict[str, Any]]:
        body = parent.get("/members")
        return body["members"] if body else []

    deadline = time.monotonic() + 60
    running: list[set[str]] = []
    while time.monotonic() < deadline:
        kids = children()
        if len(kids) == 2 and all(k["running"] for k in kids):
            running = [set(_running_at(k["status_addr"])) for k in kids]
            if sorted(len(r) for r in running) == [2, 2]:
                break
        time.sleep(0.2)
    assert [k["index"] for k in kids] == [0, 1]
    assert sorted(len(r) for r in running) == [2, 2] and set().union(*running) == set(fleet.sinks)
    assert parent.get("/readyz") == {"ready": True, "not_ready": []}

    os.kill(kids[0]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = children()
        if now[0]["restarts"] == 1 and now[0]["running"] and now[0]["pid"] != kids[0]["pid"]:
            break
        time.sleep(0.2)
    assert now[0]["last_exit"] == -signal.SIGKILL and now[0]["restarts"] == 1
    assert parent.stop() == 0  # SIGTERM reaches both children; one exit code


def _running_at(addr: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{addr}/sinks", timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return []  # not serving yet
    return [s["name"] for s in body["sinks"] if s["state"] == "RUNNING"]


def test_an_unreachable_coordination_cluster_is_refused_at_start_naming_it(
    folder: Path, kurrentdb: Any
) -> None:
    (folder / "a.yaml").write_text(sink_file("a", "t", "127.0.0.1:9"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli.main",
            "run",
            "--dir",
            str(folder),
            "--kurrentdb",
            kurrentdb.url,
            "--status-addr",
            "off",
            "--group",
            "g",
            "--group-bootstrap",
            "127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        "sinks run: error: coordination cluster 127.0.0.1:9 (Plaintext) cannot be reached: "
    )
    assert done.stderr.splitlines()[-1].endswith("; not starting")


def test_a_lost_coordination_cluster_stops_the_sinks_after_the_session_then_they_come_back(
    folder: Path,
    kafka_broker: Any,
    kurrentdb_process: Any,
    members: list[EngineProcess],
    tmp_path: Path,
) -> None:
    if kafka_broker.external:
        pytest.skip("needs a second local broker to stop and start")
    from engine.testbed.kafka import KafkaBroker

    coordination = KafkaBroker(tmp_path / "coordination")
    coordination.start()
    try:
        fleet = fleet_of(folder, kafka_broker, kurrentdb_process, 2)
        member = group_member(fleet, "--group-bootstrap", coordination.bootstrap())
        members.append(member)
        wait_split([member], fleet.sinks, {2}, timeout=60)

        coordination.stop()
        stopped_at = time.monotonic()
        while member.running() and time.monotonic() - stopped_at < 30:
            time.sleep(0.2)
        held = time.monotonic() - stopped_at
        assert member.running() == set() and member.alive()
        # Kept until its session would have expired, not a moment after the outage.
        assert held >= (SESSION_MS - SESSION_MS // 5) / 1000 - 1
        lost = [line for line in member.log_lines() if line.get("event") == "cluster.lost"]
        # librdkafka's own session check or the member's lease, whichever notices first
        why = lost[0]["why"] if lost else ""
        assert "session expired" in why or "out of reach" in why

        coordination.start()
        wait_split([member], fleet.sinks, {2}, timeout=90)
    finally:
        coordination.stop()
