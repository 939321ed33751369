"""Exit codes come from engine.specification.exitcodes: the README table and every command agree."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.specification.exitcodes import ExitCode, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_is_written_from_the_enum() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    begin = readme.index("<!-- exit-codes: begin")
    body = readme[readme.index("\n", begin) + 1 : readme.index("<!-- exit-codes: end -->")]
    assert body == markdown_table()
    assert "| 6 | `TEMPORARY` |" in body and ExitCode.TEMPORARY == 6


def test_commands_return_members_not_numbers() -> None:
    literal_returns = []
    for path in sorted((ROOT / "engine" / "cli").glob("*.py")):  # demo.py included
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Constant)
                and type(node.value.value) is int
            ):
                literal_returns.append(f"{path.name}:{node.lineno}")
    assert literal_returns == []
