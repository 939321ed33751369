"""Dependency pins that keep a fresh install from backtracking.

esdbclient pins grpcio to one minor version, and its ``grpcio[protobuf]`` extra pulls
grpcio-tools, which it does not pin. Without our own cap pip tries every newer
grpcio-tools release (26 of them when this was written) before settling on the one
matching grpcio.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import requires
from importlib.util import find_spec
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


def ours(name: str) -> SpecifierSet:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement.specifier
    raise AssertionError(f"{name} is not a dependency in pyproject.toml")


def esdbclient_grpcio() -> SpecifierSet:
    for line in requires("esdbclient") or []:
        requirement = Requirement(line)
        if requirement.name == "grpcio" and requirement.marker is None:
            return requirement.specifier
    raise AssertionError("esdbclient no longer requires grpcio")


@pytest.mark.skipif(
    find_spec("esdbclient") is None,
    reason="esdbclient is not installed (the kurrentdbclient virtualenv leaves both out)",
)
def test_grpcio_tools_is_capped_where_esdbclient_caps_grpcio() -> None:
    grpcio = esdbclient_grpcio()
    tools = ours("grpcio-tools")
    uppers = [s.version for s in grpcio if s.operator == "<"]
    assert uppers, f"esdbclient's grpcio requirement {grpcio} has no upper bound"
    ceiling = uppers[0]
    assert not tools.contains(ceiling), f"grpcio-tools {tools} allows {ceiling}"
    lowers = [s.version for s in grpcio if s.operator == ">="]
    assert all(tools.contains(v) for v in lowers), f"grpcio-tools {tools} refuses {lowers}"
