"""Per-file last-good bookkeeping for reloads.

For every sink file the tracker remembers the content hash it last saw, the sink
definitions it last accepted from it ("last good") and, when the file was rejected
or one of its sinks rolled back, the hash it was rejected at. ``select`` turns a
fresh ``LoadResult`` into the definitions the engine should run:

* an accepted file contributes its new definitions;
* a rejected file contributes its last good definitions (none if it never was
  good), and is reported only once per content: the same bytes rejected again are
  not a new rejection;
* a file rejected or rolled back at hash H keeps its last good definitions for as
  long as its hash is H, even if it loads cleanly (a start failure is not retried);
* a file that disappeared contributes nothing, so its sinks are removed.

The hash covers the file's bytes and the shared inputs of templates (every file
under the root's ``_``-folders, i.e. values and templates), so fixing a value
retries a rejected template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.model import Diagnostic, Location, Severity, SinkDefinition

if TYPE_CHECKING:
    from engine.config.loader import LoadResult


@dataclass(frozen=True)
class Selection:
    definitions: tuple[SinkDefinition, ...]
    issues: tuple[Diagnostic, ...]
    new_rejections: tuple[str, ...]
    changed_files: tuple[str, ...]


@dataclass
class _FileState:
    hash: str
    good: tuple[SinkDefinition, ...] = ()
    rejected_at: str | None = None
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)


def _read_hash(path: str, context: str) -> str:
    digest = hashlib.sha256(context.encode())
    try:
        digest.update(Path(path).read_bytes())
    except OSError:
        digest.update(b"\0missing")
    return digest.hexdigest()


def context_hash(root: Path | None) -> str:
    """Hash of every file under ``root``'s ``_``-folders (values, templates)."""
    if root is None or not root.is_dir():
        return ""
    digest = hashlib.sha256()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("_")):
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                digest.update(str(item.relative_to(root)).encode() + b"\0")
                try:
                    digest.update(item.read_bytes())
                except OSError:
                    continue
    return digest.hexdigest()


class FileTracker:
    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._files: dict[str, _FileState] = {}

    def select(self, load: LoadResult, known: Mapping[str, SinkDefinition]) -> Selection:
        context = context_hash(self._root)
        files = {f.path: f for f in load.files}
        # cross-file problems (duplicate names...) reject the file they point at
        attached = {d for f in load.files for d in f.diagnostics}
        cross: dict[str, list[Diagnostic]] = {}
        loose: list[Diagnostic] = []
        for d in load.diagnostics:
            if d in attached:
                continue
            if d.location is not None and d.location.path in files:
                cross.setdefault(d.location.path, []).append(d)
            else:
                loose.append(d)
        definitions: list[SinkDefinition] = []
        issues: list[Diagnostic] = list(loose)
        new_rejections: list[str] = []
        changed: list[str] = []
        for path, result in files.items():
            diagnostics = tuple(result.diagnostics) + tuple(cross.get(path, ()))
            ok = not any(d.severity is Severity.ERROR for d in diagnostics)
            digest = _read_hash(path, context)
            state = self._files.get(path)
            if state is None or state.hash != digest:
                changed.append(path)
            if state is None:
                state = self._files[path] = _FileState(hash=digest)
            same_as_rejected = state.rejected_at == digest
            state.hash = digest
            if ok and not same_as_rejected:
                state.good = tuple(result.sinks)
                state.rejected_at = None
                state.diagnostics = diagnostics
                if path in changed:
                    issues.extend(diagnostics)  # warnings of an accepted file
            elif not ok:
                if not same_as_rejected:
                    new_rejections.append(path)
                    issues.extend(diagnostics)
                state.rejected_at = digest
                state.diagnostics = diagnostics
            # a rolled-back file at the same hash keeps its last good set and its issue
            definitions.extend(state.good)
        for gone in [p for p in self._files if p not in files]:
            del self._files[gone]
        # one name in two files: keep the file that already owns it
        chosen: dict[str, SinkDefinition] = {}
        for sink in definitions:
            other = chosen.get(sink.name)
            if other is None:
                chosen[sink.name] = sink
                continue
            owner = known.get(sink.name)
            keep = sink if owner is not None and owner.source_file == sink.source_file else other
            chosen[sink.name] = keep
            issues.append(
                Diagnostic(
                    Location(sink.source_file),
                    f"sink defined again; '{keep.source_file}' wins",
                    key=sink.name,
                )
            )
        return Selection(
            tuple(chosen.values()), tuple(issues), tuple(new_rejections), tuple(changed)
        )

    def mark_rolled_back(
        self, path: str, old: SinkDefinition | None, name: str, error: str
    ) -> None:
        """Keep ``old`` (or nothing) for ``name`` until the file's content changes."""
        state = self._files.get(path)
        if state is None:
            return
        good = [d for d in state.good if d.name != name]
        if old is not None:
            good.append(replace(old))
        state.good = tuple(good)
        state.rejected_at = state.hash
        state.diagnostics = (
            *state.diagnostics,
            Diagnostic(Location(path), f"sink could not start: {error}", key=name),
        )

    def diagnostics(self, path: str) -> tuple[Diagnostic, ...]:
        state = self._files.get(path)
        return state.diagnostics if state is not None else ()

    def issue_lines(self, path: str) -> tuple[str, ...]:
        """Lines for the status page: the file's errors while it is rejected."""
        state = self._files.get(path)
        if state is None or state.rejected_at is None:
            return ()
        return tuple(d.format() for d in state.diagnostics)
