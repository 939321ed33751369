"""`sinks sandbox status` without a running sandbox: stopped (data kept) or none at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.specification.exitcodes import ExitCode


def test_status_of_a_stopped_sandbox_says_its_data_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kafka").mkdir()  # what `stop` leaves behind: data, no state file
    assert main(["sandbox", "status", "--dir", str(tmp_path)]) == ExitCode.CONFIG
    directory = tmp_path.resolve()
    assert capsys.readouterr().out == (
        f"the sandbox in {directory} is stopped; its data is kept\n"
        f"start it with: sinks sandbox start --dir {directory}\n"
    )


def test_status_of_an_empty_folder_says_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "status", "--dir", str(tmp_path)]) == ExitCode.CONFIG
    directory = tmp_path.resolve()
    assert capsys.readouterr().out == (
        f"no sandbox in {directory}\nstart it with: sinks sandbox start --dir {directory}\n"
    )
