"""The README's list of commands and flags is the parser's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.reference import END, START, block, rewrite, usage_lines

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_command_and_flag_as_the_parser_has_them() -> None:
    text = README.read_text(encoding="utf-8")
    current = text[text.index(START) : text.index(END) + len(END)]
    assert current == block(), (
        "README's command list is out of date: run "
        "`.venv/bin/python -m engine.cli.reference --write README.md`"
    )


def test_every_command_has_a_line() -> None:
    lines = usage_lines()
    starts = [line.split(" [")[0].split(" NAME")[0] for line in lines if line.startswith("sinks")]
    for command in ("sinks render", "sinks run", "sinks tap", "sinks sandbox start", "sinks top"):
        assert command in starts
    tap = next(line for line in lines if line.startswith("sinks tap"))
    assert "--limit N" in tap


def test_rewrite_replaces_only_the_block() -> None:
    text = f"before\n{START}\nold\n{END}\nafter\n"
    assert rewrite(text) == f"before\n{block()}\nafter\n"
    with pytest.raises(ValueError):
        rewrite("no block here")
