"""`sinks completion`: scripts generated from the parser, checked by running bash on them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from engine.cli.cmd_completion import script
from engine.cli.main import build_parser, main
from engine.specification.exitcodes import ExitCode


def registered() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(sub.choices, dict)
    return sorted(sub.choices)


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _complete(tmp_path: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed) with our script."""
    completion = tmp_path / "sinks.bash"
    completion.write_text(script("bash"))
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {completion}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}\n'
        "_shtab_sinks\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    return sorted(line.strip() for line in done.stdout.splitlines() if line.strip())


def test_prints_a_script_for_each_shell(capsys: pytest.CaptureFixture[str]) -> None:
    for shell in ("bash", "zsh", "tcsh"):
        assert main(["completion", shell]) == ExitCode.OK
        out = capsys.readouterr().out
        for command in registered():
            assert command in out, (shell, command)


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "fish"]) == ExitCode.USAGE
    assert "invalid choice: 'fish'" in capsys.readouterr().err


@needs_bash
def test_bash_completes_commands(tmp_path: Path) -> None:
    assert _complete(tmp_path, "sinks", "") == registered()
    assert _complete(tmp_path, "sinks", "re") == ["render", "reset"]


@needs_bash
def test_bash_completes_flags_and_choices(tmp_path: Path) -> None:
    assert "--reveal-secrets" in _complete(tmp_path, "sinks", "render", "--")
    assert _complete(tmp_path, "sinks", "render", "--format", "") == ["json", "kurrentdb", "yaml"]
    assert _complete(tmp_path, "sinks", "sandbox", "st") == ["start", "status", "stop"]
    assert _complete(tmp_path, "sinks", "--v") == ["--version"]


@needs_bash
def test_bash_completes_folders_for_dir(tmp_path: Path) -> None:
    (tmp_path / "sinks.d").mkdir()
    (tmp_path / "sinks.txt").write_text("not a folder")
    offered = _complete(tmp_path, "sinks", "validate", "--dir", f"{tmp_path}/sin")
    assert offered == [f"{tmp_path}/sinks.d"]
