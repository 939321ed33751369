"""`sinks schema`: regenerate, print, and detect drift between tables and schema file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config.schemagen import DEFAULT_SCHEMA_PATH
from engine.specification.tables import TABLES_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    """A copy of the settings tables with their committed schema file."""
    copy = tmp_path / "schema"
    shutil.copytree(TABLES_DIR, copy)
    return copy


def test_committed_schema_passes_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--check"]) == 0
    assert "is up to date with the settings tables" in capsys.readouterr().out


def test_check_fails_after_a_table_edit(
    tables: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tables.parent)
    assert main(["schema", "--check", "--tables", "schema"]) == 0
    capsys.readouterr()
    table = tables / "kafka-sink.md"
    text = table.read_text(encoding="utf-8")
    edited = text.replace(
        "| `compression:level` | int | `6` |", "| `compression:level` | int | `3` |"
    )
    assert edited != text
    table.write_text(edited, encoding="utf-8")

    assert main(["schema", "--check", "--tables", "schema"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "sinks: error: schema/sink.schema.json is out of date with the settings tables in "
        "schema; run 'sinks schema' to regenerate it"
    )
    assert '-      "default": 6,' in err
    assert '+      "default": 3,' in err

    assert main(["schema", "--tables", "schema"]) == 0
    assert capsys.readouterr().out == "wrote schema/sink.schema.json\n"
    assert main(["schema", "--check", "--tables", "schema"]) == 0
    written = json.loads((tables / "sink.schema.json").read_text())
    assert written["$defs"]["canonicalSettings"]["properties"]["compression:level"]["default"] == 3


def test_check_reports_a_missing_file(tables: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tables / "nowhere" / "sink.schema.json"
    assert main(["schema", "--check", "--tables", str(tables), "--output", str(missing)]) == 1
    assert "does not exist; run 'sinks schema' to write it" in capsys.readouterr().err


def test_output_to_a_path_and_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "editor" / "sink.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_text() == DEFAULT_SCHEMA_PATH.read_text()
    capsys.readouterr()
    assert main(["schema", "--output", "-"]) == 0
    assert capsys.readouterr().out == DEFAULT_SCHEMA_PATH.read_text()
    assert main(["schema", "--check", "--output", "-"]) == 2


def test_a_broken_table_is_a_config_error(
    tables: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tables.parent)
    table = tables / "common.md"
    lines = table.read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| `logging:enabled`"))
    lines[row] = lines[row].replace("| boolean |", "| bool |")
    table.write_text("\n".join(lines) + "\n")
    assert main(["schema", "--check", "--tables", "schema"]) == 1
    assert capsys.readouterr().err == (
        f"schema/common.md:{row + 1}: error: logging:enabled: unknown type 'bool'; use one of "
        "string, int, boolean, dict<string,string>, TimeSpan, enum\n"
    )


def test_sinks_schema_check_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "schema", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "schema/sink.schema.json is up to date with the settings tables in schema\n"
    )
