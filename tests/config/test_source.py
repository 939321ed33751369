"""ConfigSource: each poll equals a fresh load, and re-loads only the files that changed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.config.loader import LoadResult, load_directory
from engine.config.source import ConfigSource, Poll


def sink(name: str, topic: str, extra: str = "") -> str:
    return f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n{extra}"


def summary(result: LoadResult) -> tuple[object, ...]:
    return (
        tuple((f.path, tuple(s.digest for s in f.sinks)) for f in result.files),
        tuple(d.format() for d in result.diagnostics),
    )


def same_as_full(source: ConfigSource, root: Path) -> Poll:
    got = source.poll()
    assert summary(got.result) == summary(load_directory(root))
    return got


def test_only_changed_files_are_loaded_again(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"s{i}.yaml").write_text(sink(f"s{i}", f"t{i}"))
    source = ConfigSource(tmp_path)
    first = same_as_full(source, tmp_path)
    assert len(first.loaded) == 5
    again = source.poll()
    assert again.loaded == () and again.changed_files == ()  # nothing changed, nothing loaded
    assert again.desired == first.desired
    (tmp_path / "s2.yaml").write_text(sink("s2", "changed"))
    changed = same_as_full(source, tmp_path)
    assert changed.loaded == (str(tmp_path / "s2.yaml"),)
    assert [s.settings.topic for f in changed.result.files for s in f.sinks] == [
        "t0",
        "t1",
        "changed",
        "t3",
        "t4",
    ]
    # an invalid edit, then a fix: each loads only that file
    (tmp_path / "s3.yaml").write_text(sink("s3", "t3", "  compression:\n    type: zsdt\n"))
    broken = same_as_full(source, tmp_path)
    assert not broken.result.ok and broken.loaded == (str(tmp_path / "s3.yaml"),)
    assert broken.desired["s3"].settings.topic == "t3"  # its last good stays desired
    (tmp_path / "s3.yaml").write_text(sink("s3", "t3"))
    fixed = same_as_full(source, tmp_path)
    assert fixed.result.ok and fixed.loaded == (str(tmp_path / "s3.yaml"),)


def test_new_removed_duplicate_and_shared_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(sink("a", "ta"))
    (tmp_path / "b.yaml").write_text(sink("b", "tb"))
    source = ConfigSource(tmp_path)
    same_as_full(source, tmp_path)
    (tmp_path / "c.yaml").write_text(sink("c", "tc"))  # a new file
    assert same_as_full(source, tmp_path).loaded == (str(tmp_path / "c.yaml"),)
    (tmp_path / "b.yaml").write_text(sink("a", "tb"))  # a name now used twice
    dup = same_as_full(source, tmp_path)
    assert dup.loaded == (str(tmp_path / "b.yaml"),) and not dup.result.ok
    assert set(dup.new_rejections) == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}
    (tmp_path / "b.yaml").write_text(sink("b", "tb"))
    same_as_full(source, tmp_path)
    values = tmp_path / "_values"
    values.mkdir()
    (values / "prod.yaml").write_text("x: 1\n")  # shared inputs of templates changed
    assert len(same_as_full(source, tmp_path).loaded) == 3  # every file again
    (tmp_path / "c.yaml").unlink()  # a removed file
    removed = same_as_full(source, tmp_path)
    assert removed.loaded == () and "c" not in removed.desired


def test_duplicate_error_clears_when_the_other_file_goes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(sink("orders", "ta"))
    source = ConfigSource(tmp_path)
    assert source.poll().desired["orders"].source_file == str(a)
    b.write_text("# a copy\n" + sink("orders", "tb"))
    dup = source.poll()
    assert dup.desired["orders"].settings.topic == "ta"  # a's last good keeps running
    assert source.issue_lines(str(a)) == (
        f"{a}:1:7: error: name: duplicate sink name 'orders' (also defined at {b}:2:7)",
    )
    b.unlink()
    cleared = same_as_full(source, tmp_path)
    assert cleared.loaded == ()  # a.yaml was not edited, nor read into the loader again
    assert cleared.result.ok and cleared.new_rejections == ()
    assert source.issue_lines(str(a)) == ()
    assert [f.rejected for f in cleared.files] == [False]


def test_a_start_failure_holds_until_the_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(sink("orders", "v1"))
    source = ConfigSource(tmp_path)
    old = source.poll().desired["orders"]
    (tmp_path / "a.yaml").write_text(sink("orders", "v2"))
    new = source.poll().desired["orders"]
    source.start_failed(new, old, "cannot build producer")
    held = source.poll()
    assert held.desired["orders"] is old and held.new_rejections == ()
    assert source.issue_lines(str(tmp_path / "a.yaml")) == (
        f"{tmp_path / 'a.yaml'}: error: orders: sink could not start: cannot build producer",
    )
    (tmp_path / "a.yaml").write_text(sink("orders", "v3"))
    assert source.poll().desired["orders"].settings.topic == "v3"
    assert source.issue_lines(str(tmp_path / "a.yaml")) == ()


def test_each_file_is_read_once_per_poll(tmp_path: Path, monkeypatch: Any) -> None:
    import engine.config.sinkfile as sinkfile
    import engine.config.source as source_module

    for i in range(3):
        (tmp_path / f"s{i}.yaml").write_text(sink(f"s{i}", f"t{i}"))
    reads: list[str] = []
    real = source_module.read_sink_bytes

    def counting(file: Path, display: str) -> Any:
        reads.append(display)
        return real(file, display)

    def refused(file: Path, display: str) -> Any:
        raise AssertionError(f"{display} read a second time")

    monkeypatch.setattr(source_module, "read_sink_bytes", counting)
    monkeypatch.setattr(sinkfile, "read_sink_bytes", refused)
    source = ConfigSource(tmp_path)
    assert len(source.poll().loaded) == 3
    assert sorted(reads) == [str(tmp_path / f"s{i}.yaml") for i in range(3)]
    reads.clear()
    (tmp_path / "s1.yaml").write_text(sink("s1", "changed"))
    assert source.poll().loaded == (str(tmp_path / "s1.yaml"),)
    assert sorted(reads) == [str(tmp_path / f"s{i}.yaml") for i in range(3)]


def refuse_listing(monkeypatch: Any, folder: Path) -> None:
    """``folder`` cannot be listed, as a folder without read permission (the tests run as
    root, whom permission bits do not stop)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_folder_is_an_error_and_its_sinks_keep_running(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "a.yaml").write_text(sink("a", "ta"))
    (tmp_path / "b.yaml").write_text(sink("b", "tb"))
    source = ConfigSource(tmp_path)
    assert set(source.poll().desired) == {"a", "b"}
    refuse_listing(monkeypatch, tmp_path / "team")
    blind = source.poll()
    assert [d.format() for d in blind.result.diagnostics] == [
        f"{tmp_path}/team: error: cannot read this folder: Permission denied"
    ]
    assert not blind.result.ok
    assert set(blind.desired) == {"a", "b"}  # unknown is not removed: 'a' keeps running
    monkeypatch.undo()
    (tmp_path / "team" / "a.yaml").unlink()  # once it can be read, what is gone is gone
    assert set(source.poll().desired) == {"b"}


def test_a_folder_unreadable_from_the_start_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "a.yaml").write_text(sink("a", "ta"))
    refuse_listing(monkeypatch, tmp_path)
    result = ConfigSource(tmp_path).load()
    assert [d.format() for d in result.diagnostics] == [
        f"{tmp_path}: error: cannot read this folder: Permission denied"
    ]
