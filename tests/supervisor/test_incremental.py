"""IncrementalLoader gives what load_directory gives, loading only changed files."""

from __future__ import annotations

from pathlib import Path

from engine.config.loader import LoadResult, load_directory
from engine.supervisor.incremental import IncrementalLoader


def sink(name: str, topic: str, extra: str = "") -> str:
    return f"name: {name}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: {topic}\n{extra}"


def summary(result: LoadResult) -> tuple[object, ...]:
    return (
        tuple((f.path, tuple(s.digest for s in f.sinks)) for f in result.files),
        tuple(d.format() for d in result.diagnostics),
    )


def same_as_full(loader: IncrementalLoader, root: Path) -> LoadResult:
    got = loader()
    assert summary(got) == summary(load_directory(root))
    return got


def test_only_changed_files_are_loaded_again(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"s{i}.yaml").write_text(sink(f"s{i}", f"t{i}"))
    loader = IncrementalLoader(tmp_path)
    first = same_as_full(loader, tmp_path)
    assert loader.full_loads == 1
    assert loader() is first  # nothing changed: the same result, nothing loaded
    (tmp_path / "s2.yaml").write_text(sink("s2", "changed"))
    changed = same_as_full(loader, tmp_path)
    assert loader.full_loads == 1
    assert [s.settings["topic"] for f in changed.files for s in f.sinks] == [
        "t0",
        "t1",
        "changed",
        "t3",
        "t4",
    ]
    # an invalid edit, then a fix: still without a full load
    (tmp_path / "s3.yaml").write_text(sink("s3", "t3", "  compression:\n    type: zsdt\n"))
    broken = same_as_full(loader, tmp_path)
    assert not broken.ok and loader.full_loads == 1
    (tmp_path / "s3.yaml").write_text(sink("s3", "t3"))
    assert same_as_full(loader, tmp_path).ok and loader.full_loads == 1


def test_falls_back_to_a_full_load_when_a_shortcut_could_differ(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(sink("a", "ta"))
    (tmp_path / "b.yaml").write_text(sink("b", "tb"))
    loader = IncrementalLoader(tmp_path)
    same_as_full(loader, tmp_path)
    (tmp_path / "c.yaml").write_text(sink("c", "tc"))  # a new file
    same_as_full(loader, tmp_path)
    assert loader.full_loads == 2
    (tmp_path / "b.yaml").write_text(sink("a", "tb"))  # a name now used twice
    dup = same_as_full(loader, tmp_path)
    assert loader.full_loads == 3 and not dup.ok
    (tmp_path / "b.yaml").write_text(sink("b", "tb"))
    same_as_full(loader, tmp_path)
    values = tmp_path / "_values"
    values.mkdir()
    (values / "prod.yaml").write_text("x: 1\n")  # shared inputs of templates changed
    full_before = loader.full_loads
    same_as_full(loader, tmp_path)
    assert loader.full_loads == full_before + 1
    (tmp_path / "c.yaml").unlink()  # a removed file
    same_as_full(loader, tmp_path)
    assert loader.full_loads == full_before + 2
