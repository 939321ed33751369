"""``sinks run`` with a sink file whose evaluation never ends: the engine starts and
reloads the other files, and shuts down, without waiting for it.

The evaluation deadline is raised far beyond the test, so the stuck file is still
stuck when the assertions run; they are about what started and in which order.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.config import isolation
from engine.supervisor import app as app_module
from tests.config.test_isolation import ENDLESS
from tests.config.test_source_slow import WAIT_S
from tests.supervisor.fakes import Journal, sink_yaml
from tests.support.engines import EngineInThread


def test_the_engine_starts_reloads_and_stops_beside_a_stuck_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "EVALUATION_DEADLINE_S", WAIT_S * 10)
    monkeypatch.setattr(app_module, "FIRST_LOAD_PATIENCE_S", 0.05)
    (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f1"))
    stuck = tmp_path / "stuck.yaml.j2"
    stuck.write_text(ENDLESS + sink_yaml("stuck", "s1"))
    journal = Journal()

    def started(name: str) -> list[str]:
        return [topic for action, topic in journal.actions(name) if action == "start"]

    # Its first poll returns with the stuck file pending.
    engine = EngineInThread(tmp_path, worker_factory=journal.factory, status_addr=None, watch=False)
    try:
        engine.wait_reloaded(lambda: started("fast") == ["f1"], WAIT_S)
        (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f2"))
        engine.app.queue.post("test: fast.yaml changed")
        engine.wait_reloaded(lambda: started("fast") == ["f1", "f2"], WAIT_S)
        assert started("stuck") == []
        assert engine.app.source.poll().pending_files == (str(stuck),)
    finally:
        engine.app.request_stop()
        assert engine.serving is not None
        engine.serving.join(WAIT_S)
        stopped = threading.Thread(target=engine.app.shutdown)
        stopped.start()
        stopped.join(WAIT_S)
        assert not stopped.is_alive()  # the stuck evaluation was not waited for
