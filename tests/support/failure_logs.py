"""On a failed test, the tail of each log file the test's engines wrote is added to
the report, so a failure on a CI machine can be read without the temporary folder
(pytest keeps only the last few)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TAIL_LINES = 60
MAX_FILES = 6


def _tails(folder: Path) -> Iterator[tuple[str, str]]:
    logs = sorted(folder.rglob("*.log"), key=lambda p: p.stat().st_mtime)[-MAX_FILES:]
    for path in logs:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        yield path.name, "\n".join(lines[-TAIL_LINES:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when in ("call", "setup"):
        folder = getattr(item, "funcargs", {}).get("tmp_path")
        if isinstance(folder, Path) and folder.is_dir():
            for name, tail in _tails(folder):
                report.sections.append((f"engine log {name} (last {TAIL_LINES} lines)", tail))
    return report
