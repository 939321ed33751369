"""`sinks --version` and the command list."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from engine.cli.main import COMMANDS, build_parser, main
from engine.specification.exitcodes import ExitCode


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out == f"sinks {version('kafka-sinks-engine')}\n"


def test_every_listed_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)  # type: ignore[arg-type]
