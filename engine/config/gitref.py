"""The sink folder as committed at a git ref, for ``sinks diff --against``.

Guarantees:

* ``export_at_ref`` writes only folders and regular files of the folder at ``ref``
  under the target (links, devices and paths that would land outside are left out,
  so the loader reports a missing file on that side rather than following a link).
* Every failure (git missing, not a repository, unknown ref) is a ``GitRefError``
  with git's own message.
* ``relabel`` shows the exported copy's paths as ``REF:dir/file``.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine.specification.errors import EngineError
from engine.specification.model import Diagnostic, Location, SinkDefinition


class GitRefError(EngineError):
    """git could not give the folder at the ref asked for."""


def _git(args: Sequence[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise GitRefError("git is not installed") from None
    if done.returncode != 0:
        raise GitRefError(done.stderr.decode(errors="replace").strip() or "git failed")
    return done.stdout


def _extract_plain_files(archive: tarfile.TarFile, into: Path) -> None:
    """Write the archive's folders and regular files under ``into``.

    Written by hand rather than with ``extractall(filter=...)``, which Python 3.11
    before 3.11.4 lacks.
    """
    root = into.resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        if target != root and root not in target.parents:
            continue
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            source = archive.extractfile(member)
            if source is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def export_at_ref(directory: Path, ref: str, into: Path) -> Path | None:
    """Extract ``directory`` as committed at ``ref`` under ``into``; None if it did not exist."""
    folder = directory.resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    rel = folder.relative_to(top.resolve()).as_posix()
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except GitRefError:
        raise GitRefError(f"unknown git ref '{ref}'") from None
    listed = _git(["ls-tree", "-d", "--name-only", ref, "--", rel], top).decode().strip()
    if not listed:
        return None
    data = _git(["archive", "--format=tar", ref, "--", rel], top)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        _extract_plain_files(archive, into)
    return into / rel


def relabel(
    definitions: Sequence[SinkDefinition],
    diagnostics: Sequence[Diagnostic],
    old_prefix: str,
    new_prefix: str,
) -> tuple[list[SinkDefinition], list[Diagnostic]]:
    """Paths under ``old_prefix`` (the exported copy) shown under ``new_prefix``."""

    def fix(path: str) -> str:
        return new_prefix + path[len(old_prefix) :] if path.startswith(old_prefix) else path

    shown = [
        replace(d, location=Location(fix(d.location.path), d.location.line, d.location.column))
        if d.location
        else d
        for d in diagnostics
    ]
    return [replace(s, source_file=fix(s.source_file)) for s in definitions], shown
