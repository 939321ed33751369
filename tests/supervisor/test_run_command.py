"""`sinks run` refuses to start while any file has errors, printing every one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main


def test_refuses_to_start_with_all_errors_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(
        "name: a\nsettings:\n  instanceTypeName: kafka-sink\n  topic: x\n"
        "  compression:\n    type: zsdt\n"
    )
    (tmp_path / "b.yaml").write_text("name: b\nsettings:\n  instanceTypeName: kafka-sink\n")
    code = main(["run", "--dir", str(tmp_path), "--status-addr", "off"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err == [
        f"{tmp_path}/a.yaml:6:11: error: compression:type: 'zsdt' is not one of None, Gzip, "
        "Snappy, Lz4, Zstd (did you mean 'Zstd'?)",
        f"{tmp_path}/b.yaml:2:1: error: topic: required setting is missing",
        "sinks run: 2 error(s); not starting",
    ]


def test_missing_folder_and_bad_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--dir", str(tmp_path / "nope")]) == 1
    assert "nope: no such directory" in capsys.readouterr().err
    assert main(["run", "--dir", str(tmp_path), "--set", "novalue"]) == 2
    assert "--set expects KEY=VALUE, got 'novalue'" in capsys.readouterr().err
