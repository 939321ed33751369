"""Facts the engine keeps in one place stay there: no module spells them out again.

Each fact below lives in the module named beside it; this test fails when a string
literal elsewhere in ``engine/`` repeats it (docstrings and comments may mention it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"

# (what, a regex over one string literal, the only module that may hold it)
FACTS = [
    ("the sink-name rule", r"\[A-Za-z0-9\]\[A-Za-z0-9\._-\]", "specification/constants.py"),
    ("an environment variable", r"^(SINKS_|KURRENTDB_URL$)", "specification/constants.py"),
    ("a librdkafka authentication key", r"^(sasl|ssl)\.", "adapters/kafka/auth.py"),
    ("the group's id prefix", r"^sinks-engine\.$", "specification/naming.py"),
]


def literals(path: Path) -> list[tuple[int, str]]:
    """String constants that are not docstrings, with their lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize(("what", "pattern", "home"), FACTS, ids=[f[0] for f in FACTS])
def test_a_fact_is_written_in_one_module(what: str, pattern: str, home: str) -> None:
    found = re.compile(pattern)
    elsewhere = [
        f"{path.relative_to(ENGINE)}:{line}: {text!r}"
        for path in sorted(ENGINE.rglob("*.py"))
        if "testbed" not in path.parts and path.relative_to(ENGINE).as_posix() != home
        for line, text in literals(path)
        if found.search(text)
    ]
    assert not elsewhere, f"{what} belongs in engine/{home} only: {elsewhere}"


def test_shared_defaults_are_named_not_repeated() -> None:
    # engine.specification.constants names the shutdown timeout and the in-flight capacity.
    repeated = [
        f"{path.relative_to(ENGINE)}:{number}"
        for path in sorted(ENGINE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\b(timeout|stop_timeout|shutdown_timeout|deadline): float = 30\.0\b", line)
        or re.search(r"\bcapacity: int = 50_000\b", line)
    ]
    assert not repeated
