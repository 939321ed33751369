"""`sinks explain`: a setting's facts from the settings tables, did-you-mean otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.specification.exitcodes import ExitCode
from engine.specification.tables import TABLES_DIR, load_catalogue


def _row_line(table: str, key: str) -> int:
    """The line of ``key``'s row in ``schema/<table>``, read from the file itself."""
    lines = (TABLES_DIR / table).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"| `{key}` |"))


def test_describes_an_enum(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "compression:type"]) == ExitCode.OK
    line = _row_line("kafka-sink.md", "compression:type")
    assert capsys.readouterr().out.splitlines() == [
        "compression:type",
        "  type:       enum",
        "  default:    Zstd",
        "  accepted:   None, Gzip, Snappy, Lz4, Zstd",
        "  required:   no",
        "  sensitive:  no",
        f"  defined in: schema/kafka-sink.md:{line}",
        "",
        "  Codec used to compress message batches.",
    ]


def test_any_case_and_dots_find_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "COMPRESSION.Level"]) == ExitCode.OK
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "compression:level",
        "  type:       int",
        "  default:    6",
        "  accepted:   -1..12",
    ]


def test_required_and_sensitive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "topic"]) == ExitCode.OK
    out = capsys.readouterr().out.splitlines()
    assert out[2:6] == [
        "  default:    none (required)",
        "  accepted:   any",
        "  required:   yes",
        "  sensitive:  no",
    ]
    assert main(["explain", "authentication:password"]) == ExitCode.OK
    assert "  sensitive:  yes (printed as ***)" in capsys.readouterr().out.splitlines()


def test_wrong_name_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "compresion:typ"]) == ExitCode.CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "sinks explain: error: unknown setting 'compresion:typ' "
        "(did you mean 'compression:type'?)\n"
    )


def test_wrong_group_suggests_a_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "autentication"]) == ExitCode.CONFIG
    assert capsys.readouterr().err == (
        "sinks explain: error: unknown setting 'autentication' (did you mean 'authentication'?)\n"
    )


def test_nothing_close_gives_no_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "zzzzqqq"]) == ExitCode.CONFIG
    assert capsys.readouterr().err == "sinks explain: error: unknown setting 'zzzzqqq'\n"


def test_a_group_lists_its_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "compression"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines() == [
        "compression:type   enum  Zstd",
        "compression:level  int   6",
        "",
        "sinks explain SETTING describes one of them.",
    ]


def test_no_argument_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain"]) == ExitCode.OK
    out = capsys.readouterr().out.splitlines()
    keys = [line.split()[0] for line in out[:-2]]
    assert keys == list(load_catalogue().keys)


def test_json_matches_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "resilience:maxRetries", "--json"]) == ExitCode.OK
    body = json.loads(capsys.readouterr().out)
    spec = load_catalogue()["resilience:maxRetries"]
    assert body["key"] == "resilience:maxRetries"
    assert body["type"] == "int"
    assert body["default"] == spec.default == -1
    assert (body["minimum"], body["maximum"]) == (-1, 2147483647)
    assert body["description"] == spec.description
    assert Path(body["defined_in"].rsplit(":", 1)[0]).name == "kafka-sink.md"
