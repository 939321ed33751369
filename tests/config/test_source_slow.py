"""ConfigSource with render workers: a slow file never holds up the others' reloads.

A file is made slow either by a gate (its load waits for the test to open it, so
"still rendering" is a fact, not a guess about timing) or by a template that really
computes for a few seconds within the render bounds. Assertions are about what is
applied, pending and reported, and in which order, never about durations.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config import source as source_module
from engine.config import templating
from engine.config.sinkfile import FileResult
from engine.config.source import ConfigSource, Poll
from engine.config.templating import MissingSecrets
from tests.support.sources import WAIT_S, Ready, poll_until_loaded


def sink(name: str, topic: str, extra: str = "") -> str:
    return f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n{extra}"


# Computes for ~0.8 s here: slow beside a plain file (applied in ~0.05 s), and far
# inside the 10 s render bound even on a machine ten times as busy (CI runs the unit
# suites of other Pythons niced beside the main suite; ~2 s of work once took 10 s there).
SLOW_PREFIX = (
    '{% for i in range(1200) %}{% set x = ("ab" * 300000)|replace("a", "c") %}{% endfor %}'
)


class Gates:
    """Makes ``load_one`` of chosen files wait until the test opens their gate."""

    def __init__(self) -> None:
        self.closed: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.finished: list[str] = []
        self.order: list[str] = []
        self.lock = threading.Condition()

    def close(self, path: Path) -> None:
        self.closed[str(path)] = threading.Event()
        self.entered[str(path)] = threading.Event()

    def open(self, path: Path) -> None:
        self.closed.pop(str(path)).set()

    def wait_finished(self, path: Path) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: str(path) in self.finished, WAIT_S)

    def wrap(self, real: Callable[..., FileResult]) -> Callable[..., FileResult]:
        @functools.wraps(real)
        def gated(file: Path, display: str, *args: Any, **kwargs: Any) -> FileResult:
            gate = self.closed.get(display)
            if gate is not None:
                self.entered[display].set()
                assert gate.wait(WAIT_S), "the test never opened the gate"
            result = real(file, display, *args, **kwargs)
            with self.lock:
                self.order.append(display)  # every load, in the order they finished
            if gate is not None:
                with self.lock:
                    self.finished.append(display)  # a gated load came through
                    self.lock.notify_all()
            return result

        return gated


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    found = Gates()
    monkeypatch.setattr(source_module, "load_one", found.wrap(source_module.load_one))
    yield found
    for gate in found.closed.values():  # let a thread a failed test left waiting go
        gate.set()


def verdict(poll: Poll, path: Path) -> Any:
    [found] = [f for f in poll.files if f.path == str(path)]
    return found


def topics(poll: Poll) -> dict[str, object]:
    return {name: d.settings.topic for name, d in poll.desired.items()}


def engine_source(root: Path, ready: Ready, **options: Any) -> ConfigSource:
    return ConfigSource(root, render_workers=2, render_patience=0.05, on_ready=ready, **options)


def test_a_fast_file_applies_while_a_slow_one_renders(tmp_path: Path, gates: Gates) -> None:
    fast, slow = tmp_path / "fast.yaml", tmp_path / "slow.yaml.j2"
    fast.write_text(sink("fast", "f1"))
    slow.write_text(sink("slow", "s1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    assert topics(source.poll()) == {"fast": "f1", "slow": "s1"}  # a first poll waits for all

    gates.close(slow)
    slow.write_text(sink("slow", "s2"))
    fast.write_text(sink("fast", "f2"))
    poll = poll_until_loaded(source, ready, fast)
    # The fast file's change is applied; the slow one still renders behind its gate
    # and keeps its last good version.
    assert gates.entered[str(slow)].is_set() and str(slow) not in gates.finished
    assert topics(poll) == {"fast": "f2", "slow": "s1"}
    assert verdict(poll, slow).pending and not verdict(poll, slow).rejected
    assert poll.pending_files == (str(slow),) and poll.result.ok

    since = ready.mark()
    gates.open(slow)
    ready.wait_for(slow, since)
    done = source.poll()
    assert done.loaded == (str(slow),) and done.pending_files == ()
    assert topics(done) == {"fast": "f2", "slow": "s2"}
    assert verdict(done, slow).changed and not verdict(done, slow).pending
    assert ready.paths[-1] == str(slow)


def test_an_error_in_the_slow_file_is_reported_with_its_location(
    tmp_path: Path, gates: Gates
) -> None:
    slow = tmp_path / "slow.yaml.j2"
    slow.write_text(sink("slow", "s1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    source.poll()
    gates.close(slow)
    slow.write_text(sink("slow", "s2", "  compression:\n    type: zsdt\n"))
    assert verdict(source.poll(), slow).pending
    since = ready.mark()
    gates.open(slow)
    ready.wait_for(slow, since)
    poll = source.poll()
    assert poll.new_rejections == (str(slow),)
    assert [d.format() for d in poll.issues] == [
        f"{slow}:6:11: error: compression:type: 'zsdt' is not one of None, Gzip, Snappy, "
        "Lz4, Zstd (did you mean 'Zstd'?)"
    ]
    assert topics(poll) == {"slow": "s1"}  # the last good version keeps running


def test_a_new_slow_file_runs_nothing_until_it_is_loaded(tmp_path: Path, gates: Gates) -> None:
    (tmp_path / "a.yaml").write_text(sink("a", "ta"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    source.poll()
    new = tmp_path / "new.yaml"
    gates.close(new)
    new.write_text(sink("new", "tn"))
    poll = source.poll()
    assert verdict(poll, new).pending and topics(poll) == {"a": "ta"}
    assert [f.path for f in poll.result.files] == [str(tmp_path / "a.yaml")]
    since = ready.mark()
    gates.open(new)
    ready.wait_for(new, since)
    assert topics(source.poll()) == {"a": "ta", "new": "tn"}


def test_a_pending_file_changed_again_loads_its_newest_content(
    tmp_path: Path, gates: Gates
) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(sink("slow", "v1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    source.poll()
    gates.close(slow)
    slow.write_text(sink("slow", "v2"))
    assert verdict(source.poll(), slow).pending
    gates.open(slow)  # v2's load goes on, but its result is stale once v3 is written
    slow.write_text(sink("slow", "v3"))
    poll = poll_until_loaded(source, ready, slow)
    assert topics(poll) == {"slow": "v3"}
    assert topics(source.poll()) == {"slow": "v3"}  # v2 finishing later changes nothing


def test_close_returns_while_a_render_is_in_progress(tmp_path: Path, gates: Gates) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(sink("slow", "v1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    source.poll()
    gates.close(slow)
    slow.write_text(sink("slow", "v2"))
    assert verdict(source.poll(), slow).pending
    assert gates.entered[str(slow)].wait(WAIT_S)
    source.close()  # returns while the load is still inside its gate
    assert str(slow) not in gates.finished
    after = source.poll()  # a poll after close loads nothing more, and never waits
    assert topics(after) == {"slow": "v1"} and verdict(after, slow).pending
    gates.open(slow)
    gates.wait_finished(slow)
    # The cancelled load came to an end: its result is dropped.
    assert topics(source.poll()) == {"slow": "v1"}


def test_a_genuinely_slow_template_finishes_after_the_fast_file(
    tmp_path: Path, gates: Gates
) -> None:
    fast, slow = tmp_path / "fast.yaml", tmp_path / "slow.yaml.j2"
    fast.write_text(sink("fast", "f1"))
    slow.write_text(sink("slow", "s1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    source.poll()
    since = ready.mark()
    slow.write_text(SLOW_PREFIX + sink("slow", "s2"))
    fast.write_text(sink("fast", "f2"))
    del gates.order[:]
    started = time.monotonic()
    poll = poll_until_loaded(source, ready, fast)
    fast_at = time.monotonic() - started
    # The fast file's change is applied before the slow template has finished.
    assert gates.order == [str(fast)]
    assert topics(poll) == {"fast": "f2", "slow": "s1"} and verdict(poll, slow).pending
    ready.wait_for(slow, since)
    slow_at = time.monotonic() - started
    print(f"fast file applied after {fast_at:.3f} s, slow template done after {slow_at:.3f} s")
    assert gates.order == [str(fast), str(slow)]
    assert topics(source.poll()) == {"fast": "f2", "slow": "s2"}


def test_the_render_time_bound_holds_on_a_render_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 0.05)
    slow = tmp_path / "slow.yaml.j2"
    slow.write_text(SLOW_PREFIX + sink("slow", "s"))
    poll = ConfigSource(tmp_path, render_workers=2).poll()
    assert [d.format() for d in poll.result.diagnostics] == [
        f"{slow}:1: error: rendering took longer than 0.05 s"
    ]


def test_parallel_renders_keep_their_own_counts_and_warnings(tmp_path: Path) -> None:
    # Each file alone is within the loop limit; together they are far over it, so a
    # count shared between threads would refuse some of them.
    for i in range(6):
        missing = "".join(f'{{{{ secret("MISSING_{i}_{j}") }}}}' for j in range(i + 1))
        loop = "{% for k in range(150000) %}{% endfor %}"
        (tmp_path / f"s{i}.yaml.j2").write_text(
            loop + sink(f"s{i}", f"t{i}", f"  defaultHeaders:\n    x: '{missing}'\n")
        )

    def load(workers: int) -> list[str]:
        source = ConfigSource(
            tmp_path, render_workers=workers, missing_secrets=MissingSecrets.PLACEHOLDER, environ={}
        )
        result = source.poll().result
        assert len(result.definitions) == 6
        return [d.format() for d in result.diagnostics]

    one_by_one = load(0)
    assert len(one_by_one) == sum(range(1, 7))  # one placeholder warning per missing secret
    assert load(4) == one_by_one


def test_endless_recursion_is_a_diagnostic_on_a_render_thread(tmp_path: Path) -> None:
    # Threads other than the main one have their own C stack: the recursion limit
    # must still be what stops the render.
    deep = tmp_path / "deep.yaml.j2"
    deep.write_text("{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}\n")
    poll = ConfigSource(tmp_path, render_workers=2).poll()
    assert [d.format() for d in poll.result.diagnostics] == [
        f"{deep}:1: error: template recursion is too deep"
    ]


def test_a_failing_load_ends_its_job_with_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> FileResult:
        raise RuntimeError("defect")

    monkeypatch.setattr(source_module, "load_one", broken)
    (tmp_path / "a.yaml").write_text(sink("a", "t"))
    poll = ConfigSource(tmp_path, render_workers=2).poll()
    assert [d.format() for d in poll.result.diagnostics] == [
        f"{tmp_path / 'a.yaml'}: error: internal error while loading: RuntimeError('defect')"
    ]
