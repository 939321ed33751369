"""Can this interpreter run a sink? Asked before a command says so or starts one.

``validate``, ``test``, ``run`` and ``demo`` call :func:`check` first: it imports every
module of the packages a running sink uses. A dependency that is missing, or whose
installed release no longer has what the engine uses (a new major version that only a
newer Python picks up, say), is one :class:`BrokenEnvironment` naming the engine
module, the dependency's distribution, its installed version and the range the engine
asks for; ``engine.cli.main`` prints it as one line and exits ``INTERNAL`` (3).
Without this, ``validate`` would say ``ok`` while every sink went FAILED at start with
the same import error.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version
from types import ModuleType

# Everything a running sink imports, directly or once it starts: the layers from the
# specification up to the supervisor (which holds group mode), reloads included.
RUNTIME_PACKAGES = (
    "engine.specification",
    "engine.sandbox",
    "engine.config",
    "engine.mapping",
    "engine.adapters",
    "engine.runtime",
    "engine.supervisor",
)
DISTRIBUTION = "kafka-sinks-engine"


class BrokenEnvironment(Exception):
    """This interpreter cannot import a module that running a sink needs."""


def check() -> None:
    """Import every runtime module; ``BrokenEnvironment`` at the first that fails."""
    for package_name in RUNTIME_PACKAGES:
        package = _import(package_name)
        failed: list[str] = []
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}.", failed.append):
            _import(info.name)
        if failed:  # a sub-package whose own import failed while it was walked
            _import(failed[0])


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:  # whatever stops the import stops every sink
        raise BrokenEnvironment(describe(_innermost(exc, name), exc)) from exc


def _innermost(exc: BaseException, default: str) -> str:
    """The engine module whose own import statement failed (deepest in the traceback)."""
    found, frame = default, exc.__traceback__
    while frame is not None:
        name = frame.tb_frame.f_globals.get("__name__", "")
        if isinstance(name, str) and name.startswith("engine."):
            found = name
        frame = frame.tb_next
    return found


def describe(module: str, exc: BaseException) -> str:
    """One line: the engine module, the error, and the dependency it points at."""
    text = f"cannot run sinks on this Python ({sys.version.split()[0]}): importing {module} "
    text += f"failed: {type(exc).__name__}: {exc}"
    culprit = _culprit(exc)
    if culprit:
        text += f" ({_installed(culprit)})"
    return text


def _culprit(exc: BaseException) -> str | None:
    """The top-level name of the module the error is about, when it is not the engine's."""
    name: str | None = None
    if isinstance(exc, ImportError):
        name = exc.name
    elif isinstance(exc, AttributeError) and isinstance(exc.obj, ModuleType):
        name = exc.obj.__name__
    top = name.split(".")[0] if name else None
    return None if top in (None, "engine") else top


def _installed(top: str) -> str:
    """'jsonpath-rfc9535 2.0.2 is installed; the engine asks for jsonpath-rfc9535>=1.0,<3'."""
    distributions = packages_distributions().get(top, [])
    if not distributions:
        return f"no installed distribution provides '{top}'"
    parts = []
    for distribution in distributions:
        try:
            found = f"{distribution} {version(distribution)} is installed"
        except PackageNotFoundError:
            found = f"{distribution} is not installed"
        wanted = _wanted(distribution)
        parts.append(f"{found}; the engine asks for {wanted}" if wanted else found)
    return "; ".join(parts)


def _wanted(distribution: str) -> str | None:
    try:
        lines = requires(DISTRIBUTION) or []
    except PackageNotFoundError:  # a source tree that was never installed
        return None
    for line in lines:
        requirement, _, marker = line.partition(";")
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if not marker and name and _canonical(name.group()) == _canonical(distribution):
            return requirement.strip()
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
