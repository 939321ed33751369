"""Architecture contracts: the layers, and which modules may import the client libraries.

import-linter reads the contracts from pyproject.toml; this test fails when a module
imports a layer above its own, or when a module outside ``engine.adapters`` starts
importing a KurrentDB client library or confluent_kafka. Every package of ``engine/``
sits in a layer, and the README's Architecture table names each one.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
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


def layers() -> list[str]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in contracts["contracts"] if c["type"] == "layers"]
    return [name.strip() for line in contract["layers"] for name in line.split("|")]


def test_every_engine_package_is_in_a_layer_and_in_the_readme() -> None:
    packages = sorted(
        f"engine.{path.parent.name}" for path in (ROOT / "engine").glob("*/__init__.py")
    )
    assert sorted(layers()) == packages
    section = (ROOT / "README.md").read_text().split("\n## Architecture\n", 1)[1]
    table = section.split("\nOne file, from disk", 1)[0]
    unnamed = [p for p in packages if f"`engine/{p.split('.')[1]}`" not in table]
    assert unnamed == []


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


def private_imports(source: str) -> list[str]:
    """``module`` or ``module.name`` of each import of another package's private part.

    A private part is a dotted component (module) or an imported name that starts with
    one underscore: it may change or go in any release, as jsonpath-rfc9535 2.0 removed
    ``function_extensions._pattern``. Imports inside functions and ``TYPE_CHECKING``
    blocks count too; the engine's own modules and relative imports do not.
    """

    def private(part: str) -> bool:
        return part.startswith("_") and not part.startswith("__")

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, node.module)]
            modules += [(f"{node.module}.{a.name}", a.name) for a in node.names]
        else:
            continue
        for dotted, tail in modules:
            if dotted.split(".")[0] == "engine":
                continue
            if any(private(part) for part in dotted.split(".")) or private(tail):
                found.append(dotted)
    return sorted(set(found))


def test_the_check_finds_private_imports() -> None:
    source = (
        "import json._private\n"
        "from engine._own import x\n"
        "from pkg.sub import _hidden, public\n"
        "def f():\n    from pkg._mod.deep import name\n"
        "from __future__ import annotations\n"
        "from . import _relative\n"
    )
    assert private_imports(source) == [
        "json._private",
        "pkg._mod.deep",
        "pkg._mod.deep.name",
        "pkg.sub._hidden",
    ]


def test_no_engine_module_imports_a_private_module_of_another_package() -> None:
    found = {
        str(path.relative_to(ROOT)): private_imports(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "engine").rglob("*.py"))
    }
    assert {path: names for path, names in found.items() if names} == {}
