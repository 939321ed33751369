"""Loading ``sinks.d/``: files → rendered text → marked YAML → validated sinks.

Guarantees:

* ``load_directory`` and ``load_file`` never raise for anything a file holds: every
  problem is a ``Diagnostic`` with a location, and every file is loaded on its own,
  so one broken file never hides another file's sinks or errors.
* A file is ``ok`` only when it has no errors; ``LoadResult.definitions`` holds the
  sinks of ok files only.
* A sink name used twice (in one file or across files) is an error on every use,
  naming the other place, so neither definition is trusted.
* Paths that lead outside the root (symlinked files or folders) are refused.
* Skipped: folders starting with ``_`` or ``.`` (``_values/``, ``_templates/``),
  hidden files and ``*.test.yaml`` config tests. Sink files end in ``.yaml``,
  ``.yml``, ``.yaml.j2`` or ``.yml.j2``; ``.j2`` files are rendered first.
* Secret values rendered by templates are masked in every diagnostic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config.masking import mask_settings
from engine.config.sinkfile import FileResult as FileResult
from engine.config.sinkfile import load_one
from engine.config.templating import (
    MASK,
    MissingSecrets,
    SecretBook,
    TemplateContext,
)
from engine.model import Diagnostic, Location, Severity, SinkDefinition

SINK_SUFFIXES = (".yaml.j2", ".yml.j2", ".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True)
class LoadResult:
    files: tuple[FileResult, ...]
    diagnostics: tuple[Diagnostic, ...]
    env: str | None = None
    secrets: SecretBook = field(default_factory=SecretBook, compare=False)

    @property
    def definitions(self) -> tuple[SinkDefinition, ...]:
        return tuple(s for f in self.files if f.ok for s in f.sinks)

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


def masked_settings(definition: SinkDefinition, secrets: SecretBook) -> dict[str, Any]:
    """Canonical settings safe to print: sensitive keys and any value holding a secret masked."""
    shown = mask_settings(definition.plain_settings())
    for key, value in list(shown.items()):
        if isinstance(value, Mapping):
            shown[key] = {k: MASK if secrets.contains_secret(v) else v for k, v in value.items()}
        elif secrets.contains_secret(value):
            shown[key] = MASK
    return shown


def masked_written(
    result: FileResult, definition: SinkDefinition, secrets: SecretBook
) -> dict[str, Any]:
    """The explicit settings as written, masked like ``masked_settings``."""
    shown = masked_settings(definition, secrets)
    written = dict(result.written.get(definition.name, {}))
    for key in written:
        if key in shown and shown[key] != definition.settings.get(key):
            written[key] = shown[key]
    return written


def is_sink_file(name: str) -> bool:
    return (
        not name.startswith(".")
        and name.endswith(SINK_SUFFIXES)
        and not name.endswith(TEST_SUFFIXES)
    )


def load_directory(
    root: str | Path = "sinks.d",
    *,
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    missing_secrets: MissingSecrets = MissingSecrets.ERROR,
    environ: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load every sink file under ``root`` for ``env`` (values from ``_values/<env>.yaml``)."""
    base = Path(root)
    display_root = str(root)
    if not base.is_dir():
        missing = Diagnostic(Location(display_root), "sinks directory not found")
        return LoadResult((), (missing,), env)
    context = TemplateContext(
        base,
        display_root,
        env=env,
        overrides=overrides,
        missing_secrets=missing_secrets,
        environ=environ,
    )
    found, walk_problems = _sink_files(base, display_root)
    files = [
        FileResult(display, (), (problem,)) if problem else load_one(file, display, context)
        for file, display, problem in found
    ]
    files = _mark_duplicates(files)
    masked = [
        FileResult(
            f.path,
            f.sinks,
            tuple(context.secrets.mask_diagnostic(d) for d in f.diagnostics),
            f.written,
            f.name_locations,
        )
        for f in files
    ]
    everything = [*context.diagnostics, *walk_problems]
    everything.extend(d for f in masked for d in f.diagnostics)
    return LoadResult(tuple(masked), tuple(everything), env, context.secrets)


def load_file(
    path: str | Path,
    *,
    root: str | Path = "sinks.d",
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    missing_secrets: MissingSecrets = MissingSecrets.ERROR,
    environ: Mapping[str, str] | None = None,
) -> FileResult:
    """Load one sink file (cross-file checks such as duplicate names need load_directory)."""
    display = str(path)
    base = Path(root)
    context = TemplateContext(
        base,
        str(root),
        env=env,
        overrides=overrides,
        missing_secrets=missing_secrets,
        environ=environ,
    )
    file = Path(path)
    if not file.resolve().is_relative_to(base.resolve()):
        outside = Diagnostic(Location(display), "file is outside the config root")
        return FileResult(display, (), (outside,))
    result = load_one(file, display, context)
    diagnostics = [*context.diagnostics, *result.diagnostics]
    return FileResult(
        result.path,
        result.sinks,
        tuple(context.secrets.mask_diagnostic(d) for d in diagnostics),
        result.written,
        result.name_locations,
    )


def _sink_files(
    base: Path, display_root: str
) -> tuple[list[tuple[Path, str, Diagnostic | None]], list[Diagnostic]]:
    real_root = base.resolve()
    found: list[tuple[Path, str, Diagnostic | None]] = []
    problems: list[Diagnostic] = []
    for folder, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for name in list(dirnames):
            sub = here / name
            if sub.is_symlink():
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
            if not is_sink_file(name):
                continue
            file = here / name
            shown = _display(display_root, base, file)
            problem = None
            if file.is_symlink() and not file.resolve().is_relative_to(real_root):
                problem = Diagnostic(Location(shown), "symlink points outside the config root")
            found.append((file, shown, problem))
    return found, problems


def _display(display_root: str, base: Path, file: Path) -> str:
    return os.path.join(display_root, str(file.relative_to(base)))


def _mark_duplicates(files: list[FileResult]) -> list[FileResult]:
    seen: dict[str, list[tuple[int, Location]]] = {}
    for index, result in enumerate(files):
        for sink in result.sinks:
            where = result.name_locations.get(sink.name, Location(result.path))
            seen.setdefault(sink.name, []).append((index, where))
    extra: dict[int, list[Diagnostic]] = {}
    for name, places in seen.items():
        if len(places) < 2:
            continue
        for index, where in places:
            others = ", ".join(o.format() for i, o in places if (i, o) != (index, where))
            extra.setdefault(index, []).append(
                Diagnostic(
                    where, f"duplicate sink name '{name}' (also defined at {others})", key="name"
                )
            )
    return [
        FileResult(
            f.path, f.sinks, f.diagnostics + tuple(extra.get(i, ())), f.written, f.name_locations
        )
        for i, f in enumerate(files)
    ]
