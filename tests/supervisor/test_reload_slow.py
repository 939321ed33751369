"""The running engine: a slow file holds up neither other files' reloads nor a shutdown.

The slow file's load waits behind a gate the test opens (``tests.config.
test_source_slow.Gates``), so "still rendering" is certain when the assertions run;
they are about the order of what the workers did, never about durations.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.supervisor.logs import EventLog
from tests.config.test_source_slow import WAIT_S, Gates, gates
from tests.supervisor.fakes import Journal, sink_yaml
from tests.support.engines import EngineInThread

__all__ = ["gates"]  # the fixture, imported for these tests


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def engine(tmp_path: Path, journal: Journal, out: io.StringIO) -> Iterator[EngineInThread]:
    """``EngineApp`` with fake workers, serving reloads on a thread of its own."""
    (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f1"))
    (tmp_path / "slow.yaml").write_text(sink_yaml("slow", "s1"))
    running = EngineInThread(
        tmp_path,
        worker_factory=journal.factory,
        log=EventLog(out, "text"),
        status_addr=None,
        watch=False,
    )
    yield running
    running.app.request_stop()
    assert running.serving is not None
    running.serving.join(WAIT_S)
    running.app.shutdown()


def started(journal: Journal, name: str) -> list[str]:
    return [topic for action, topic in journal.actions(name) if action == "start"]


def events(out: io.StringIO) -> list[str]:
    return [line.split(None, 2)[2] for line in out.getvalue().splitlines()]


def test_the_fast_file_applies_and_the_slow_one_follows_when_done(
    tmp_path: Path, engine: EngineInThread, gates: Gates, journal: Journal, out: io.StringIO
) -> None:
    slow = tmp_path / "slow.yaml"
    gates.close(slow)
    slow.write_text(sink_yaml("slow", "s2"))
    (tmp_path / "fast.yaml").write_text(sink_yaml("fast", "f2"))
    engine.app.request_reload("files changed")
    engine.wait_reloaded(lambda: started(journal, "fast") == ["f1", "f2"], WAIT_S)
    # The fast file is applied while the slow one is still loading behind its gate.
    assert str(slow) not in gates.finished
    assert started(journal, "slow") == ["s1"]
    last = engine.app.last_reload
    assert last is not None and last.pending_files == (str(slow),)
    assert f'file.pending file={slow} note="still loading; its last good version runs"' in (
        events(out)
    )

    gates.open(slow)  # its completion requests the reload that applies it
    engine.wait_reloaded(lambda: started(journal, "slow") == ["s1", "s2"], WAIT_S)
    assert journal.actions("slow") == [("start", "s1"), ("stop", "s1"), ("start", "s2")]
    assert started(journal, "fast") == ["f1", "f2"]  # not restarted by the slow file's reload
    assert any(
        e.startswith('reload.requested reason="file loaded: slow.yaml"') for e in (events(out))
    )


def test_shutdown_during_a_slow_render_does_not_wait_for_it(
    tmp_path: Path, engine: EngineInThread, gates: Gates, journal: Journal
) -> None:
    slow = tmp_path / "slow.yaml"
    gates.close(slow)
    slow.write_text(sink_yaml("slow", "s2"))
    engine.app.request_reload("files changed")
    assert gates.entered[str(slow)].wait(WAIT_S)
    asked = time.monotonic()
    engine.app.request_stop()
    assert engine.serving is not None
    engine.serving.join(WAIT_S)
    result = engine.app.shutdown()
    print(f"stopped {time.monotonic() - asked:.3f} s after the stop request")
    # Serving and shutdown are over while the render is still inside its gate.
    assert not engine.serving.is_alive() and str(slow) not in gates.finished
    assert sorted(result.stopped) == ["fast", "slow"] and result.stuck == ()
    assert started(journal, "slow") == ["s1"]  # the last good version ran to the end
    gates.open(slow)
