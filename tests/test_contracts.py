"""Architecture contracts: which modules may import the two client libraries.

import-linter reads the contracts from pyproject.toml; this test fails when a module
outside ``engine.adapters`` starts importing a KurrentDB client library or confluent_kafka.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_client_libraries_are_imported_only_by_their_adapters() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed; install the project with its test extras")
    result = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_cli_import_is_cold() -> None:
    code = (
        "import sys, engine.cli.main as m; m.build_parser();"
        "libs=('confluent_kafka','esdbclient','kurrentdbclient','grpc');"
        "bad=[n for n in libs if n in sys.modules];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
