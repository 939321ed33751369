"""Dependency bounds and pins.

Every runtime dependency stops below its next major version, except those whose
projects promise a stable API; the constraints file pins each of them, within those
bounds, and the test environment runs the pinned versions.

esdbclient pins grpcio to one minor version, and its ``grpcio[protobuf]`` extra pulls
grpcio-tools, which it does not pin. Without our own cap pip tries every newer
grpcio-tools release (26 of them when this was written) before settling on the one
matching grpcio.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import requires, version
from importlib.util import find_spec
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name as canonical

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"
# Calendar-versioned, keeping the standard `re` API: no major version to stop below.
STABLE = {"regex"}


def dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def pinned() -> dict[str, str]:
    """Name → version that the constraints file pins for this interpreter."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate():
            [spec] = requirement.specifier
            pins[canonical(requirement.name)] = spec.version
    return pins


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


def test_every_runtime_dependency_stops_below_its_next_major_version() -> None:
    unbounded = [
        str(r)
        for r in dependencies()
        if r.name not in STABLE and not any(s.operator in ("<", "<=", "==") for s in r.specifier)
    ]
    assert unbounded == []


def test_the_constraints_pin_every_runtime_dependency_within_its_bounds() -> None:
    pins = pinned()
    outside = {
        r.name: pins.get(canonical(r.name))
        for r in dependencies()
        if not r.specifier.contains(pins.get(canonical(r.name), "0.dev0"))
    }
    assert outside == {}


@pytest.mark.skipif(
    find_spec("esdbclient") is None,
    reason="the kurrentdbclient virtualenv follows .ci/constraints-kurrentdbclient.txt",
)
def test_the_tests_run_the_pinned_versions() -> None:
    pins = pinned()
    installed = {r.name: version(r.name) for r in dependencies()}
    assert {n: v for n, v in installed.items() if pins[canonical(n)] != v} == {}
