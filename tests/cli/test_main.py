"""`sinks --version` and the command list."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from engine.cli.main import main
from engine.exitcodes import ExitCode


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out == f"sinks {version('kafka-sinks-engine')}\n"
