"""Watcher and SIGHUP turn into reload requests on one queue."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.supervisor.watcher import ReloadQueue, Watcher, install_sighup


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, ReloadQueue]]:
    (tmp_path / "_values").mkdir()
    queue = ReloadQueue()
    watcher = Watcher([tmp_path], queue, debounce_ms=100)
    watcher.start()
    assert watcher.ready.is_set()
    yield tmp_path, queue
    watcher.stop()


def test_a_burst_of_writes_is_one_request(tmp_path: Path) -> None:
    # A debounce far longer than the burst: CI runs this suite niced beside another,
    # and a starved loop once spread five writes over two 100 ms windows.
    queue = ReloadQueue()
    watcher = Watcher([tmp_path], queue, debounce_ms=1000)
    watcher.start()
    try:
        for i in range(5):
            (tmp_path / "orders.yaml").write_text(f"name: orders\n# edit {i}\n")
        reasons = queue.take(timeout=10)
        assert reasons == ["files changed: orders.yaml"]
        assert queue.take(timeout=1.5) == []  # nothing left over from the burst
    finally:
        watcher.stop()


def test_values_folder_changes_and_config_tests_ignored(watched: tuple[Path, ReloadQueue]) -> None:
    root, queue = watched
    (root / "orders.test.yaml").write_text("cases: []\n")
    assert queue.take(timeout=1.0) == []
    (root / "_values" / "prod.yaml").write_text("topic: x\n")
    assert queue.take(timeout=10) == ["files changed: prod.yaml"]


def test_sighup_posts_a_request() -> None:
    assert threading.current_thread() is threading.main_thread()
    queue = ReloadQueue()
    previous = signal.getsignal(signal.SIGHUP)
    install_sighup(queue)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert queue.take(timeout=5) == ["SIGHUP"]
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_stop_wakes_a_waiting_taker() -> None:
    queue = ReloadQueue()
    threading.Timer(0.05, queue.stop).start()
    assert queue.take(timeout=10) == []
    assert queue.stopping


def test_serve_ends_on_a_stop_whose_wakeup_was_lost() -> None:
    # A signal handler runs on the serving thread; a stop set between take()'s check
    # and its wait notifies nobody. Set the flag without any notify at all: the loop
    # must still end, by looking again after its bounded wait.
    import threading
    from types import SimpleNamespace

    from engine.supervisor.app import EngineApp
    from engine.supervisor.watcher import ReloadQueue

    queue = ReloadQueue()
    app = SimpleNamespace(queue=queue)
    served = threading.Thread(target=EngineApp.serve, args=(app,), daemon=True)
    served.start()
    queue._stopping = True  # no notify_all: the lost wakeup
    served.join(timeout=30)
    assert not served.is_alive()
