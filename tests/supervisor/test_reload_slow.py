"""The running engine: a slow file holds up neither other files' reloads nor a shutdown.

The slow file's load waits behind a gate the test opens (``tests.config.
test_source_slow.Gates``), so "still rendering" is certain when the assertions run;
they are about the order of what the workers did, never about durations.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.supervisor.app import EngineApp, EngineOptions
from engine.supervisor.logs import EventLog
from tests.config.test_source_slow import WAIT_S, Gates, gates
from tests.supervisor.fakes import Journal, sink_yaml

__all__ = ["gates"]  # the fixture, imported for these tests


class Engine:
    """An ``EngineApp`` with fake workers, serving reloads on a thread of its own."""

    def __init__(self, root: Path) -> None:
        self.journal = Journal()
        self.out = io.StringIO()
        self.app = EngineApp(
            EngineOptions(sinks_dir=root, status_addr=None, watch=False),
            log=EventLog(self.out, "text"),
            worker_factory=self.journal.factory,
        )
        poll = self.app.load()
        assert poll.result.ok
        self.app.start(poll)
        self.serving = threading.Thread(target=self.app.serve, name="test-serve")
        self.serving.start()

    def wait_until(self, done: Callable[[], bool]) -> None:
        with self.app.reloaded:
            assert self.app.reloaded.wait_for(done, WAIT_S)

    def started(self, name: str) -> list[str]:
        return [topic for action, topic in self.journal.actions(name) if action == "start"]

    def events(self) -> list[str]:
        return [line.split(None, 2)[2] for line in self.out.getvalue().splitlines()]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f1"))
    (tmp_path / "slow.yaml").write_text(sink_yaml("slow", "s1"))
    running = Engine(tmp_path)
    yield running
    running.app.request_stop()
    running.serving.join(WAIT_S)
    running.app.shutdown()


def test_the_fast_file_applies_and_the_slow_one_follows_when_done(
    tmp_path: Path, engine: Engine, gates: Gates
) -> None:
    slow = tmp_path / "slow.yaml"
    gates.close(slow)
    slow.write_text(sink_yaml("slow", "s2"))
    (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f2"))
    engine.app.request_reload("files changed")
    engine.wait_until(lambda: engine.started("fast") == ["f1", "f2"])
    # The fast file is applied while the slow one is still loading behind its gate.
    assert str(slow) not in gates.finished
    assert engine.started("slow") == ["s1"]
    last = engine.app.last_reload
    assert last is not None and last.pending_files == (str(slow),)
    assert f'file.pending file={slow} note="still loading; its last good version runs"' in (
        engine.events()
    )

    gates.open(slow)  # its completion requests the reload that applies it
    engine.wait_until(lambda: engine.started("slow") == ["s1", "s2"])
    assert engine.journal.actions("slow") == [("start", "s1"), ("stop", "s1"), ("start", "s2")]
    assert engine.started("fast") == ["f1", "f2"]  # not restarted by the slow file's reload
    assert any(
        e.startswith('reload.requested reason="file loaded: slow.yaml"') for e in (engine.events())
    )


def test_shutdown_during_a_slow_render_does_not_wait_for_it(
    tmp_path: Path, engine: Engine, gates: Gates
) -> None:
    slow = tmp_path / "slow.yaml"
    gates.close(slow)
    slow.write_text(sink_yaml("slow", "s2"))
    engine.app.request_reload("files changed")
    assert gates.entered[str(slow)].wait(WAIT_S)
    started = time.monotonic()
    engine.app.request_stop()
    engine.serving.join(WAIT_S)
    result = engine.app.shutdown()
    print(f"stopped {time.monotonic() - started:.3f} s after the stop request")
    # Serving and shutdown are over while the render is still inside its gate.
    assert not engine.serving.is_alive() and str(slow) not in gates.finished
    assert sorted(result.stopped) == ["fast", "slow"] and result.stuck == ()
    assert engine.started("slow") == ["s1"]  # the last good version ran to the end
    gates.open(slow)
