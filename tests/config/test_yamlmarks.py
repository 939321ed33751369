"""YAML parsing with marks: values, locations and every refusal as a diagnostic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config.yamlmarks import MAX_FILE_BYTES, parse_yaml, read_sink_text
from engine.specification.model import Location


def errors(text: str) -> list[str]:
    return [d.format() for d in parse_yaml(text, "f.yaml").diagnostics]


def test_values_and_marks_of_keys_and_values() -> None:
    parsed = parse_yaml("name: orders\nsettings:\n  compression:\n    type: zstd\n", "f.yaml")
    assert parsed.ok
    (doc,) = parsed.documents
    assert doc.value == {"name": "orders", "settings": {"compression": {"type": "zstd"}}}
    assert doc.locate(("settings", "compression", "type"), True) == Location("f.yaml", 4, 11)
    assert doc.locate(("settings", "compression", "type"), False) == Location("f.yaml", 4, 5)
    # An unknown path falls back to the nearest written ancestor.
    assert doc.locate(("settings", "compression", "level"), True) == Location("f.yaml", 4, 5)


def test_keys_stay_text_but_values_follow_yaml() -> None:
    (doc,) = parse_yaml("on: yes\n1: 2\nnull: ~\nd: 2024-01-01\n", "f.yaml").documents
    assert doc.value == {"on": True, "1": 2, "null": None, "d": "2024-01-01"}


def test_several_documents_and_empty_ones_skipped() -> None:
    parsed = parse_yaml("---\na: 1\n---\n---\nb: 2\n", "f.yaml")
    assert [d.value for d in parsed.documents] == [{"a": 1}, {"b": 2}]
    assert parsed.documents[1].start == Location("f.yaml", 5, 1)


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    assert errors("a: 1\nb:\n  c: 1\n  c: 2\n") == [
        "f.yaml:4:3: error: b: duplicate key 'c' (first written at line 3)"
    ]


def test_syntax_error_points_at_the_problem() -> None:
    assert errors("a: [1, 2\nb: 3\n") == [
        "f.yaml:2:2: error: invalid YAML: expected ',' or ']', but got ':'\n"
        "  note: while parsing a flow sequence at line 1"
    ]


def test_tab_indentation_is_reported() -> None:
    (message,) = errors("a:\n\tb: 1\n")
    assert message.startswith("f.yaml:2:1: error: invalid YAML: found character '\\t'")


def test_recursive_alias_is_refused() -> None:
    assert errors("a: &x [1, *x]\n") == [
        "f.yaml:1:4: error: recursive alias: a value contains itself"
    ]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    (message,) = errors("\n".join(lines) + "\n")
    assert "document expands to more than 50000 values" in message
    assert "aliases (*name) that repeat large anchors are refused" in message


def test_small_aliases_and_merge_keys_work() -> None:
    text = "base: &b {topic: t, level: 1}\nsink:\n  <<: *b\n  level: 2\n"
    (doc,) = parse_yaml(text, "f.yaml").documents
    assert doc.value["sink"] == {"level": 2, "topic": "t"}


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    (message,) = errors("[" * 5000)
    assert message.startswith("f.yaml: error: invalid YAML: nesting deeper than")
    (message,) = errors("- " * 3000 + "x\n")
    assert "nesting deeper than" in message


def test_python_tags_are_refused() -> None:
    assert errors("x: !!python/object/apply:os.system ['true']\n") == [
        "f.yaml:1:4: error: unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system'\n"
        "  note: only plain YAML values (JSON types) are allowed"
    ]


def test_non_finite_numbers_and_complex_keys_are_refused() -> None:
    assert errors("x: .inf\n") == ["f.yaml:1:4: error: number '.inf' is not finite"]
    assert errors("? [a]\n: 1\n") == [
        "f.yaml:1:3: error: a key must be a plain value, not a list or mapping"
    ]


def test_control_character_is_located() -> None:
    assert errors("a: 1\nb: x\x07\n") == [
        "f.yaml:2:5: error: invalid YAML: unacceptable character #x0007"
    ]


def test_bom_is_ignored() -> None:
    assert parse_yaml("\ufeffa: 1\n", "f.yaml").documents[0].value == {"a": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a: 1\x00\x01", "f.yaml: error: binary file (contains NUL bytes)"),
        (b"a: 1\nb: \xff\xfe\n", "f.yaml:2: error: file is not valid UTF-8 text (binary file?)"),
        (
            b"x" * (MAX_FILE_BYTES + 1),
            "f.yaml: error: file is too large (1048577 bytes; the limit is 1 MiB)",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, data: bytes, message: str) -> None:
    file = tmp_path / "f.yaml"
    file.write_bytes(data)
    text, problem = read_sink_text(file, "f.yaml")
    assert text is None
    assert problem is not None
    assert problem.format() == message


def test_readable_file(tmp_path: Path) -> None:
    file = tmp_path / "f.yaml"
    file.write_text("name: ünïcode\n", encoding="utf-8")
    assert read_sink_text(file, "f.yaml") == ("name: ünïcode\n", None)


def test_fast_and_pure_parsers_agree_on_marks() -> None:
    # Long lines make the parser take the pure-Python path; marks must be the same.
    short = "a:\n  b: [1, 2]\n  c: x\n"
    padded = short + "# " + "x" * 500 + "\n"
    (fast,) = parse_yaml(short, "f.yaml").documents
    (pure,) = parse_yaml(padded, "f.yaml").documents
    assert dict(fast.values_at) == dict(pure.values_at)
    assert dict(fast.keys_at) == dict(pure.keys_at)


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    text, problem = read_sink_text(fifo, "f.yaml")
    assert text is None
    assert problem is not None
    assert problem.format() == "f.yaml: error: not a regular file"
