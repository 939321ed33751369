"""A Python that cannot import what a running sink needs is one error, exit 3.

The broken environment is made the way a new major release of a dependency breaks
it: a package of the same name, first on the path, that lacks what the engine uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from engine.cli import preflight
from engine.specification.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parent.parent.parent
SINK = "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"


def sinks(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shadow = tmp_path / "shadow"
    (shadow / "jsonpath_rfc9535").mkdir(parents=True)
    (shadow / "jsonpath_rfc9535" / "__init__.py").write_text('"""A release without the API."""\n')
    (tmp_path / "sinks.d").mkdir()
    (tmp_path / "sinks.d" / "orders.yaml").write_text(SINK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args, "--dir", "sinks.d"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )


def expected_error() -> str:
    python = sys.version.split()[0]
    installed = version("jsonpath-rfc9535")
    return (
        f"sinks: error: cannot run sinks on this Python ({python}): importing "
        "engine.mapping.jsonpath failed: ModuleNotFoundError: No module named "
        f"'jsonpath_rfc9535.function_extensions' (jsonpath-rfc9535 {installed} is installed; "
        "the engine asks for jsonpath-rfc9535<3,>=1.0)"
    )


@pytest.mark.parametrize("command", [["validate"], ["test"], ["run", "--status-addr", "off"]])
def test_a_broken_dependency_is_one_error_naming_it(tmp_path: Path, command: list[str]) -> None:
    result = sinks(tmp_path, *command)
    assert (result.returncode, result.stdout) == (ExitCode.INTERNAL, "")
    assert result.stderr.splitlines() == [expected_error()]


def test_the_same_files_validate_on_a_working_python(tmp_path: Path) -> None:
    (tmp_path / "sinks.d").mkdir()
    (tmp_path / "sinks.d" / "orders.yaml").write_text(SINK)
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "validate", "--dir", "sinks.d"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert (result.returncode, result.stderr) == (ExitCode.OK, "")


def test_a_missing_module_names_the_distribution_and_what_the_engine_asks_for() -> None:
    try:
        import jsonpath_rfc9535.function_extensions_gone  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as exc:
        text = preflight.describe("engine.mapping.jsonpath", exc)
    assert text.endswith(
        "importing engine.mapping.jsonpath failed: ModuleNotFoundError: No module named "
        "'jsonpath_rfc9535.function_extensions_gone' (jsonpath-rfc9535 "
        f"{version('jsonpath-rfc9535')} is installed; the engine asks for "
        "jsonpath-rfc9535<3,>=1.0)"
    )


def test_a_module_of_no_distribution_says_so() -> None:
    try:
        import no_such_top_level_module  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as exc:
        text = preflight.describe("engine.runtime.worker", exc)
    assert text.endswith("(no installed distribution provides 'no_such_top_level_module')")


def test_this_interpreter_passes() -> None:
    preflight.check()  # raises BrokenEnvironment otherwise
