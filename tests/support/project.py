"""The ``project`` fixture: a ``sinks.d`` folder in a fresh working directory.

A test module says what the folder holds by overriding ``project_files`` (path under
``sinks.d`` → text; folders are made as needed) and, when its sink files read
environment variables, ``project_env``. ``SINKS_ENV`` is always unset, so no test
depends on the environment it was started from. Registered in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

SINKS_DIR = "sinks.d"


@pytest.fixture
def project_files() -> Mapping[str, str]:
    """What ``sinks.d`` holds: overridden by each module that uses ``project``."""
    return {}


@pytest.fixture
def project_env() -> Mapping[str, str]:
    """Environment variables set for the test (secrets its sink files read)."""
    return {}


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    project_files: Mapping[str, str],
    project_env: Mapping[str, str],
) -> Path:
    """``<tmp>/sinks.d`` holding ``project_files``, with ``<tmp>`` the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SINKS_ENV", raising=False)
    for name, value in project_env.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / SINKS_DIR
    root.mkdir()
    for relative, text in project_files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
