"""Every command the README and examples/*/README.md show in a shell block runs as documented.

Commands are read from the ```sh blocks. ``sinks`` commands that need no servers run
here (in the folder the README says, with the variables its ``export`` lines set) and
must exit with the documented status; the others are listed with the reason they do not
run here, so a new command cannot slip by unnoticed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", *sorted(ROOT.glob("examples/*/README.md"))]
BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Commands that do not run in a test, by their first words, and why.
NOT_RUN = {
    ("python3", "-m", "venv"): "installs the project",
    (".venv/bin/pip",): "installs the project",
    (".venv/bin/ruff",): "the static checks: CI runs them as steps of their own",
    ("docker",): "no Docker engine where the tests run",
    ("curl",): "needs a running engine",
    ("sinks", "run"): "runs until stopped; tests/integration covers it",
    ("sinks", "status"): "needs a running engine",
}
# The documented exit status when it is not 0.
EXIT_STATUS = {("sinks", "diff"): 4}  # 4: the two sides differ


def commands(readme: Path) -> list[tuple[str, int, list[str]]]:
    """(shell line, line number, words) of every command in the README's shell blocks."""
    found: list[tuple[str, int, list[str]]] = []
    text = readme.read_text()
    for block in BLOCK.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        joined = block.group(1).replace("\\\n", " ")
        for offset, line in enumerate(joined.splitlines()):
            words = shlex.split(line, comments=True)
            if words:
                found.append((line.strip(), first_line + offset, words))
    return found


def skipped_because(words: list[str]) -> str | None:
    for prefix, reason in NOT_RUN.items():
        if tuple(words[: len(prefix)]) == prefix:
            return reason
    return None


def cases() -> list[tuple[Path, str, int, list[str]]]:
    return [
        (readme, line, number, words)
        for readme in READMES
        for line, number, words in commands(readme)
    ]


def test_the_readmes_document_commands() -> None:
    runnable = [c for c in cases() if skipped_because(c[3]) is None]
    assert len(runnable) >= 4
    assert all(
        words[0] in ("export", "sinks", ".venv/bin/python") for _, _, _, words in runnable
    ), runnable


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_documented_command_exits_as_documented(readme: Path, tmp_path: Path) -> None:
    # "Try it from this folder" means the README's own folder; otherwise the clone's root.
    cwd = readme.parent if "from this folder" in readme.read_text() else ROOT
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SINKS_", "KAFKA_"))}
    environ["HOME"] = str(tmp_path)
    ran = 0
    for line, number, words in commands(readme):
        if skipped_because(words) is not None:
            continue
        where = f"{readme.relative_to(ROOT)}:{number}: {line}"
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                environ[name] = value
            continue
        if words[0] == "sinks":
            argv = [sys.executable, "-m", "engine.cli.main", *words[1:]]
        else:
            pytest.fail(f"{where}: no rule to run this command; add one or a reason in NOT_RUN")
        result = subprocess.run(
            argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300, check=False
        )
        expected = EXIT_STATUS.get(tuple(words[:2]), 0)
        assert result.returncode == expected, f"{where}\n{result.stdout}{result.stderr}"
        ran += 1
    documented = [c for c in commands(readme) if skipped_because(c[2]) is None]
    assert ran == len([c for c in documented if c[2][0] != "export"])
