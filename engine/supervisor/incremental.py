"""Reloads that re-read only the sink files whose bytes changed.

Loading a folder renders and validates every file; with a hundred sinks running
in the same process that costs a few hundred milliseconds of a reload's latency.
``IncrementalLoader`` returns a ``LoadResult`` equal to what ``load_directory``
would give, loading again only the files whose content hash changed, and falls
back to a full ``load_directory`` whenever a shortcut could differ from it:

* the first load, and whenever the set of sink files changed (added, removed,
  renamed), so the loader's own walk rules and folder checks apply;
* when anything under the root's ``_``-folders (values, templates) changed, since
  every template may render differently;
* when a symlink is involved, or when a sink name appears in two places before or
  after the change (the loader's duplicate-name diagnostics span several files).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.supervisor.filestate import context_hash

if TYPE_CHECKING:
    from engine.config.loader import LoadResult
    from engine.config.sinkfile import FileResult


def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _has_duplicates(files: Iterable[FileResult]) -> bool:
    names = [s.name for f in files for s in f.sinks]
    return len(names) != len(set(names))


class IncrementalLoader:
    def __init__(
        self, root: Path, env: str | None = None, overrides: Mapping[str, Any] | None = None
    ) -> None:
        self._root = root
        self._env = env
        self._overrides = dict(overrides) if overrides else None
        self._last: LoadResult | None = None
        self._hashes: dict[str, str | None] = {}
        self._context = ""
        self.full_loads = 0  # how many times the whole folder was loaded (for tests, metrics)

    def _sink_files(self) -> tuple[list[str], bool]:
        """Display paths as the loader forms them, and whether a symlink is involved."""
        from engine.config.loader import is_sink_file

        shown: list[str] = []
        symlink = False
        for folder, dirnames, filenames in os.walk(self._root, followlinks=False):
            here = Path(folder)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
            symlink = symlink or any((here / d).is_symlink() for d in dirnames)
            for name in sorted(filenames):
                if is_sink_file(name):
                    file = here / name
                    symlink = symlink or file.is_symlink()
                    rel = file.relative_to(self._root)
                    shown.append(os.path.join(str(self._root), str(rel)))
        return shown, symlink

    def __call__(self) -> LoadResult:
        files, symlink = self._sink_files()
        context = context_hash(self._root)
        last = self._last
        if (
            last is None
            or symlink
            or context != self._context
            or set(files) != set(self._hashes)
            or _has_duplicates(last.files)  # its diagnostics sit on other files too
        ):
            return self._full(files, context)
        hashes = {p: _digest(p) for p in files}
        changed = [p for p in files if hashes[p] != self._hashes[p]]
        if not changed:
            return last
        from engine.config.loader import LoadResult, load_file

        results: dict[str, FileResult] = {f.path: f for f in last.files}
        for path in changed:
            results[path] = load_file(
                path, root=self._root, env=self._env, overrides=self._overrides
            )
        if _has_duplicates(results.values()):
            return self._full(files, context)
        attached = {d for f in last.files for d in f.diagnostics}
        loose = [d for d in last.diagnostics if d not in attached]
        ordered = tuple(results[f.path] for f in last.files)
        diagnostics = (*loose, *(d for f in ordered for d in f.diagnostics))
        result = LoadResult(ordered, diagnostics, last.env, last.secrets)
        self._last, self._hashes = result, hashes
        return result

    def _full(self, files: list[str], context: str) -> LoadResult:
        from engine.config.loader import load_directory

        self.full_loads += 1
        result = load_directory(self._root, env=self._env, overrides=self._overrides)
        self._last = result
        self._hashes = {p: _digest(p) for p in files}
        self._context = context
        return result
