"""The one walk of a sink folder: which files are sink files, config tests, or refused.

Guarantees:

* Folders starting with ``_`` or ``.`` (``_values/``, ``_templates/``, ``.git/``) are
  skipped; hidden files are skipped. Sink files end in ``.yaml``, ``.yml``,
  ``.yaml.j2`` or ``.yml.j2``; ``*.test.yaml`` / ``*.test.yml`` are config tests.
* Nothing is followed out of the root: a symlinked file leading outside is listed
  with its problem, a symlinked folder is not entered (an error when it leads
  outside, a warning when inside, since its files load from where they are).
* Order is stable (sorted per folder) and display paths are ``<root as given>/<rel>``.
* ``context_hash`` covers every file under the root's ``_``-folders (values and
  templates), the inputs every template shares.
* A folder that cannot be listed is an error naming it, and is in ``unreadable``:
  its files are unknown, not gone, so the config source keeps their sinks as they
  were instead of stopping them as removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from engine.specification.constants import SINK_SUFFIXES, SKIPPED_FOLDER_PREFIXES, TEST_SUFFIXES
from engine.specification.model import Diagnostic, Location, Severity


@dataclass(frozen=True)
class FoundFile:
    path: Path
    display: str
    problem: Diagnostic | None = None  # why it is refused without being read


@dataclass(frozen=True)
class Walk:
    sink_files: tuple[FoundFile, ...]
    test_files: tuple[FoundFile, ...]
    problems: tuple[Diagnostic, ...]  # about folders, not about one file
    unreadable: tuple[str, ...] = ()  # display paths of folders that could not be listed

    def unknown(self, display: str) -> bool:
        """Whether ``display`` lies in a folder that could not be listed."""
        return any(display.startswith(folder + os.sep) for folder in self.unreadable)


def is_sink_file(name: str) -> bool:
    return (
        not name.startswith(".")
        and name.endswith(SINK_SUFFIXES)
        and not name.endswith(TEST_SUFFIXES)
    )


def is_test_file(name: str) -> bool:
    return not name.startswith(".") and name.endswith(TEST_SUFFIXES)


def walk(root: str | Path) -> Walk:
    """Every sink file and config test under ``root`` (which must be a folder)."""
    base = Path(root)
    display_root = str(root)
    real_root = base.resolve()
    sinks: list[FoundFile] = []
    tests: list[FoundFile] = []
    problems: list[Diagnostic] = []
    unreadable: list[str] = []

    def cannot_list(error: OSError) -> None:
        where = Path(error.filename or base)
        shown = display_root if where == base else _display(display_root, base, where)
        unreadable.append(shown)
        reason = error.strerror or str(error)
        problems.append(Diagnostic(Location(shown), f"cannot read this folder: {reason}"))

    for folder, dirnames, filenames in os.walk(base, onerror=cannot_list, followlinks=False):
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(SKIPPED_FOLDER_PREFIXES))
        for name in list(dirnames):
            sub = here / name
            if not sub.is_symlink():
                continue
            dirnames.remove(name)
            shown = _display(display_root, base, sub)
            if not sub.resolve().is_relative_to(real_root):
                problems.append(
                    Diagnostic(Location(shown), "symlinked folder points outside the root")
                )
            else:
                problems.append(
                    Diagnostic(
                        Location(shown),
                        "symlinked folder not followed (its files load from where they are)",
                        severity=Severity.WARNING,
                    )
                )
        for name in sorted(filenames):
            file = here / name
            if is_test_file(name):
                tests.append(FoundFile(file, _display(display_root, base, file)))
            if not is_sink_file(name):
                continue
            shown = _display(display_root, base, file)
            problem = None
            if file.is_symlink() and not file.resolve().is_relative_to(real_root):
                problem = Diagnostic(Location(shown), "symlink points outside the config root")
            sinks.append(FoundFile(file, shown, problem))
    return Walk(tuple(sinks), tuple(tests), tuple(problems), tuple(unreadable))


def context_hash(root: Path) -> str:
    """Hash of every file under ``root``'s ``_``-folders (values, templates)."""
    if not root.is_dir():
        return ""
    digest = hashlib.sha256()
    try:
        entries = list(root.iterdir())
    except OSError:  # an unlistable root: walk() reports it
        return ""
    for folder in sorted(p for p in entries if p.is_dir() and p.name.startswith("_")):
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                digest.update(str(item.relative_to(root)).encode() + b"\0")
                try:
                    digest.update(item.read_bytes())
                except OSError:
                    continue
    return digest.hexdigest()


def _display(display_root: str, base: Path, file: Path) -> str:
    return os.path.join(display_root, str(file.relative_to(base)))
