"""Each sink file is evaluated in a bounded worker: no file can hang or exhaust the engine.

Every hostile file here once hung ``sinks validate`` until killed or took it past
2 GB. Now each stops with a diagnostic naming the bound it passed, and the other files
of the folder load as usual. The time bound is lowered for the tests that need it
(the parent enforces it), so they end soon; assertions are about messages and the
order of events, never durations.
"""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from typing import Any

import pytest

from engine.config import isolation
from engine.config.source import ConfigSource, Poll
from tests.support.sources import WAIT_S, Ready, poll_until_loaded, settled

ENDLESS = '{% set s = "a" * 100000 %}{% for x in s %}{% for y in s %}{% endfor %}{% endfor %}\n'


def sink(name: str, topic: str, extra: str = "") -> str:
    return f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n{extra}"


def with_ok_file(root: Path) -> Path:
    ok = root / "ok.yaml"
    ok.write_text(sink("ok", "t-ok"))
    return ok


def messages(poll_or_result: Any) -> list[str]:
    return [d.format() for d in poll_or_result.diagnostics]


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(isolation, "EVALUATION_DEADLINE_S", 1.0)
    return 1.0


@pytest.mark.parametrize(
    "expression",
    [
        '("{0:>999999}" * 1500).format(1)',
        '("%999999s" * 1500) % ((1,) * 1500)',
        '("\\t" * 1500).expandtabs(1000000)',
    ],
    ids=["format", "percent", "expandtabs"],
)
def test_a_template_building_gigabytes_stops_at_the_memory_bound(
    tmp_path: Path, expression: str
) -> None:
    ok = with_ok_file(tmp_path)
    big = tmp_path / "big.yaml.j2"
    big.write_text(sink("big", "t") + f"  x: '{{{{ {expression} }}}}'\n")
    result = ConfigSource(tmp_path).load()
    assert messages(result) == [
        f"{big}: error: evaluating this file used more than 512 MiB (stopped)"
    ]
    assert [d.name for d in result.definitions] == ["ok"] and result.files[1].path == str(ok)


@pytest.mark.parametrize(
    "settings",
    [
        "  subscription:\n    filter:\n      filterType: regex\n"
        "      expression: '(((a{100}){100}){100}){10}'\n",
        "  partitionKeyExtraction:\n    enabled: true\n    source: Stream\n"
        "    expression: '(((a{100}){100}){100}){10}'\n",
    ],
    ids=["filter", "partition-key"],
)
def test_a_regex_that_compiles_to_gigabytes_stops_at_the_memory_bound(
    tmp_path: Path, settings: str
) -> None:
    with_ok_file(tmp_path)
    huge = tmp_path / "huge.yaml"
    huge.write_text(sink("huge", "t", settings))
    result = ConfigSource(tmp_path).load()
    assert messages(result) == [
        f"{huge}: error: evaluating this file used more than 512 MiB (stopped)"
    ]
    assert [d.name for d in result.definitions] == ["ok"]


def test_an_endless_template_loop_stops_at_the_time_bound(
    tmp_path: Path, short_deadline: float
) -> None:
    with_ok_file(tmp_path)
    endless = tmp_path / "endless.yaml.j2"
    endless.write_text(ENDLESS + sink("endless", "t"))
    result = ConfigSource(tmp_path).load()
    assert messages(result) == [
        f"{endless}: error: evaluating this file took longer than 1 s (stopped)"
    ]
    assert [d.name for d in result.definitions] == ["ok"]
    # The worker that was killed is replaced: the next load works as before.
    assert [d.name for d in ConfigSource(tmp_path).load().definitions] == ["ok"]


def test_a_transform_getter_that_never_returns_stops_at_the_call_limit(tmp_path: Path) -> None:
    with_ok_file(tmp_path)
    code = 'Object.defineProperty(globalThis, "transform", {get(){ while(true){} }})'
    encoded = base64.b64encode(code.encode()).decode()
    getter = tmp_path / "getter.yaml"
    getter.write_text(
        sink("getter", "t", f"  transformer:\n    enabled: true\n    function: {encoded}\n")
    )
    result = ConfigSource(tmp_path).load()
    assert messages(result) == [
        f"{getter}:7:15: error: transformer:function: looking up transform took longer than 5 s"
    ]
    assert [d.name for d in result.definitions] == ["ok"]


def test_a_valid_transformer_still_validates_in_the_worker(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"function transform(record) { record.value.x = 1; }").decode()
    (tmp_path / "t.yaml").write_text(
        sink("t", "t", f"  transformer:\n    enabled: true\n    function: {encoded}\n")
    )
    result = ConfigSource(tmp_path).load()
    assert result.ok and [d.name for d in result.definitions] == ["t"]


def test_secrets_a_worker_rendered_are_masked_by_the_caller(tmp_path: Path) -> None:
    (tmp_path / "s.yaml.j2").write_text(
        sink("s", "t", '  compression:\n    type: {{ secret("PW") }}\n')
    )
    source = ConfigSource(tmp_path, environ={"PW": "hunter2"})
    result = source.load()
    assert "hunter2" in result.secrets.values
    assert [m for m in messages(result) if "hunter2" in m] == []
    assert any("***" in m for m in messages(result))


def test_file_results_pickle(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(sink("a", "t", "  defaultHeaders:\n    k: v\n"))
    [file] = ConfigSource(tmp_path).load().files
    again = pickle.loads(pickle.dumps(file))
    assert again == file and again.sinks[0].digest == file.sinks[0].digest


# -- the running engine's source: a stuck file holds up nothing ---------------------------


def topics(poll: Poll) -> dict[str, object]:
    return {name: d.settings.topic for name, d in poll.desired.items()}


def pending(poll: Poll) -> tuple[str, ...]:
    return poll.pending_files


def engine_source(root: Path, ready: Ready) -> ConfigSource:
    return ConfigSource(
        root, render_workers=2, render_patience=0.05, first_patience=0.05, on_ready=ready
    )


def test_a_stuck_file_holds_up_neither_the_first_poll_nor_a_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "EVALUATION_DEADLINE_S", WAIT_S * 10)  # never reached
    fast, stuck = tmp_path / "fast.yaml", tmp_path / "stuck.yaml.j2"
    fast.write_text(sink("fast", "f1"))
    stuck.write_text(ENDLESS + sink("stuck", "s1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    first = poll_until_loaded(source, ready, fast)
    # The engine can start with the fast file; the stuck one is pending, not an error.
    assert topics(first) == {"fast": "f1"} and pending(first) == (str(stuck),)
    assert first.result.ok
    fast.write_text(sink("fast", "f2"))
    reload = poll_until_loaded(source, ready, fast)
    assert topics(reload) == {"fast": "f2"} and pending(reload) == (str(stuck),)
    source.close()  # returns at once: the stuck worker is killed, not waited for
    assert str(stuck) not in ready.paths


def test_a_stuck_edit_is_stopped_and_keeps_the_last_good_version(
    tmp_path: Path, short_deadline: float
) -> None:
    fast, stuck = tmp_path / "fast.yaml", tmp_path / "stuck.yaml.j2"
    fast.write_text(sink("fast", "f1"))
    stuck.write_text(sink("stuck", "s1"))
    ready = Ready()
    source = engine_source(tmp_path, ready)
    poll = settled(source, ready)
    assert topics(poll) == {"fast": "f1", "stuck": "s1"}

    stuck.write_text(ENDLESS + sink("stuck", "s2"))
    fast.write_text(sink("fast", "f2"))
    applied = poll_until_loaded(source, ready, fast)
    assert topics(applied) == {"fast": "f2", "stuck": "s1"}
    assert pending(applied) == (str(stuck),)
    done = poll_until_loaded(source, ready, stuck)
    assert done.new_rejections == (str(stuck),)
    assert messages(done.result) == [
        f"{stuck}: error: evaluating this file took longer than 1 s (stopped)"
    ]
    assert topics(done) == {"fast": "f2", "stuck": "s1"}  # its last good version runs
    source.close()


def test_saving_a_stuck_file_again_frees_its_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "EVALUATION_DEADLINE_S", WAIT_S * 10)  # never reached
    stuck = tmp_path / "stuck.yaml.j2"
    stuck.write_text(sink("stuck", "s1"))
    ready = Ready()
    source = ConfigSource(tmp_path, render_workers=1, render_patience=0.05, on_ready=ready)
    source.poll()
    for topic in ("s2", "s3", "s4", "s5"):  # each save supersedes a stuck load
        stuck.write_text(ENDLESS + sink("stuck", topic))
        assert pending(source.poll()) == (str(stuck),)
    # One render thread only: the fixed save loads only once the stuck ones are gone.
    stuck.write_text(sink("stuck", "s6"))
    assert topics(poll_until_loaded(source, ready, stuck)) == {"stuck": "s6"}
    source.close()
