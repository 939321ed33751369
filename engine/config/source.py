"""The config source: ``sinks.d/`` on disk → the sink definitions the engine should run.

``ConfigSource.poll()`` walks the folder once, reads and hashes each sink file once,
loads again only the files whose hash changed, and returns a ``Poll``: the desired
definitions (name → ``SinkDefinition``, disabled ones included) plus each file's
verdict and diagnostics. Every one-shot command (``validate``, ``render``, ``test``,
``demo``, ``run``'s first check) loads through one poll of a fresh source; the
running engine keeps one source and polls it on every reload.

Guarantees:

* A poll gives what a fresh source would give for the same files (``poll().result``
  equals a first poll's), whatever was loaded before: the hash of a file covers its
  bytes and every file of the root's ``_``-folders (values, templates), so fixing a
  value re-renders every template.
* Per-file last good: a file with errors contributes the definitions it last
  contributed without errors (none if it never had), and is a new rejection only
  once per content; the same bytes rejected again are not reported again.
* A sink that could not start (reported by ``start_failed``) keeps its file on the
  definitions it had before (or on the failed one, held, for a sink that never ran)
  until the file's content changes: a start failure is not retried on every reload.
* Duplicate names are checked on every poll across all files, loaded again or not,
  so a duplicate error clears as soon as the other definition goes away, without
  editing the surviving file.
* When two files' last-good sets share a name, the file that already owned it wins.
* Secret values rendered by templates are masked in every diagnostic.

Bounded files: every file loads in a worker process (``engine.config.isolation``),
so a file that would run for ever or take the machine's memory is stopped, with a
diagnostic naming the bound, and the others load as usual.

Slow files (``render_workers > 0``, what the running engine uses): each changed file
loads on its own in a ``RenderPool`` (``engine.config.renderpool``). A poll waits at
most ``render_patience`` seconds for them (its first poll waits ``first_patience``,
for all when None: nothing runs yet); a file still loading after that is *pending*:
its verdict says so, it keeps its last good definitions (a new file has none yet), and
the poll returns with the files that did finish, so they apply at once. When a pending
file finishes, ``on_ready`` is called with its path, and the next poll takes its result, reporting
an error in it with its location as usual. A pending file that changes again, or
goes away, has its load cancelled. ``close()`` returns at once: the loads in
progress are cancelled (their worker processes killed), their results are dropped,
and nothing waits for them. Until no file is pending, a poll gives the files as they last
finished loading (the first guarantee holds once none is).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config.duplicates import duplicate_names
from engine.config.isolation import load_isolated as load_one  # bounded, in a worker
from engine.config.isolation import warm_workers
from engine.config.renderpool import RenderJob, RenderPool
from engine.config.sinkfile import FileResult
from engine.config.templating import MissingSecrets, SecretBook, TemplateContext
from engine.config.walk import Walk, context_hash, walk
from engine.config.yamlmarks import read_sink_bytes
from engine.specification.model import Diagnostic, Location, Severity, SinkDefinition


@dataclass(frozen=True)
class LoadResult:
    """One poll's files as loaded (diagnostics include duplicate names) and every diagnostic."""

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


@dataclass(frozen=True)
class FileVerdict:
    """What one poll decided about one file."""

    path: str
    changed: bool  # its content (or its duplicate-name diagnostics) changed since the last poll
    rejected: bool  # it has errors (or a sink of it could not start): its last good runs
    newly_rejected: bool  # rejected, and not at this content before: report it
    diagnostics: tuple[Diagnostic, ...]
    pending: bool = False  # a newer content is still loading; the verdict is the last one


@dataclass(frozen=True)
class Poll:
    desired: Mapping[str, SinkDefinition]  # every definition to run or show, disabled included
    files: tuple[FileVerdict, ...]
    issues: tuple[Diagnostic, ...]  # what this poll reports: new rejections, warnings, folder
    result: LoadResult  # the files as they are now (what `sinks validate` prints)
    loaded: tuple[str, ...] = ()  # the files read and loaded again by this poll

    @property
    def new_rejections(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.newly_rejected)

    @property
    def changed_files(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.changed)

    @property
    def pending_files(self) -> tuple[str, ...]:
        """Files still loading: each keeps its last good definitions until it is done."""
        return tuple(f.path for f in self.files if f.pending)


@dataclass
class _FileState:
    hash: str  # of the bytes and the shared template inputs
    loaded: FileResult  # its own diagnostics (no cross-file ones), masked
    key: str = ""  # hash plus its duplicate-name diagnostics: what a verdict is tied to
    good: tuple[SinkDefinition, ...] = ()
    rejected_at: str | None = None  # the key it was rejected (or rolled back) at
    diagnostics: tuple[Diagnostic, ...] = ()


class ConfigSource:
    def __init__(
        self,
        root: str | Path,
        *,
        env: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        missing_secrets: MissingSecrets = MissingSecrets.ERROR,
        environ: Mapping[str, str] | None = None,
        render_workers: int = 0,
        render_patience: float | None = None,
        on_ready: Callable[[str], None] | None = None,
        first_patience: float | None = None,
    ) -> None:
        """``render_workers``: 0 loads on the polling thread; see the module for the rest."""
        self.root = root
        self._base = Path(root)
        self._env = env
        self._overrides = dict(overrides) if overrides else None
        self._missing_secrets = missing_secrets
        self._environ = environ
        self._secrets = SecretBook()
        self._files: dict[str, _FileState] = {}
        self._context = ""  # hash of the shared template inputs at the last poll
        self._context_diagnostics: tuple[Diagnostic, ...] = ()
        self._desired: dict[str, SinkDefinition] = {}
        self._polled = False
        self._pool = RenderPool(render_workers, on_ready)
        self._patience = render_patience
        self._first_patience = first_patience
        self._jobs: dict[str, RenderJob] = {}  # files loading, by path
        warm_workers()  # while this process walks the folder

    # ------------------------------------------------------------------------ polling
    def poll(self) -> Poll:
        """Read the folder and decide what should run (see the module's guarantees)."""
        if not self._base.is_dir():
            missing = Diagnostic(Location(str(self.root)), "sinks directory not found")
            self._files.clear()
            self._desired = {}
            result = LoadResult((), (missing,), self._env, self._secrets)
            return Poll({}, (), (missing,), result)
        found = walk(self._base)
        context = context_hash(self._base)
        loaded = self._load_changed(found, context)
        self._context, self._polled = context, True
        return self._decide(found, loaded)

    @property
    def secrets(self) -> SecretBook:
        """Every secret value the files rendered so far: what the engine's outputs mask."""
        return self._secrets

    def close(self) -> None:
        """Cancel the loads in progress and stop the workers, without waiting for them."""
        self._pool.close(self._jobs.values())

    def load(self) -> LoadResult:
        """One poll's files and diagnostics (for the one-shot commands)."""
        return self.poll().result

    def load_file(self, path: str | Path) -> FileResult:
        """One file on its own (names repeated in other files are not checked)."""
        display, file = str(path), Path(path)
        if not file.resolve().is_relative_to(self._base.resolve()):
            outside = Diagnostic(Location(display), "file is outside the config root")
            return FileResult(display, (), (outside,))
        context = self._template_context()
        result = load_one(file, display, context)
        repeats = duplicate_names({display: result.names}).get(display, ())
        found = (*context.diagnostics, *result.diagnostics, *repeats)
        return _masked(replace(result, diagnostics=found), self._secrets)

    def _load_changed(self, found: Walk, context: str) -> list[str]:
        template_context: TemplateContext | None = None
        if not self._polled or context != self._context:
            template_context = self._template_context()
        loaded: list[str] = []
        for file in found.sink_files:
            data: bytes | None = None
            problem = file.problem
            if problem is None:
                data, problem = read_sink_bytes(file.path, file.display)
            if data is not None:
                digest = hashlib.sha256(context.encode() + b"\0" + data).hexdigest()
            else:
                assert problem is not None
                digest = "refused:" + problem.message
            state = self._files.get(file.display)
            job = self._jobs.get(file.display)
            if job is not None and job.digest == digest:
                continue  # still loading this very content
            if job is not None:  # superseded by a newer content
                self._pool.cancel(job)
                del self._jobs[file.display]
            if state is not None and state.hash == digest:
                continue
            if data is None:
                assert problem is not None
                self._store(file.display, digest, FileResult(file.display, (), (problem,)))
                loaded.append(file.display)
                continue
            if template_context is None:
                template_context = self._template_context()
            load = functools.partial(load_one, file.path, file.display, template_context, data)
            job = self._jobs[file.display] = RenderJob(file.display, digest, load)
            self._pool.submit(job)
        if self._jobs:
            patience = self._patience if self._polled else self._first_patience
            self._pool.wait(self._jobs.values(), patience)
        for path, job in list(self._jobs.items()):
            result = self._pool.settle(job)
            if result is not None:
                del self._jobs[path]
                self._store(path, job.digest, result)
                loaded.append(path)
        if loaded:
            # a later template may render a secret an earlier file's diagnostic shows
            for state in self._files.values():
                state.loaded = _masked(state.loaded, self._secrets)
        return loaded

    def _store(self, path: str, digest: str, result: FileResult) -> None:
        state = self._files.get(path)
        if state is None:
            self._files[path] = _FileState(digest, result)
        else:
            state.hash, state.loaded = digest, result

    def _template_context(self) -> TemplateContext:
        context = TemplateContext(
            self._base,
            str(self.root),
            env=self._env,
            overrides=self._overrides,
            secrets=self._secrets,
            missing_secrets=self._missing_secrets,
            environ=self._environ,
        )
        self._context_diagnostics = context.diagnostics
        return context

    def _decide(self, found: Walk, loaded: list[str]) -> Poll:
        paths = [f.display for f in found.sink_files]
        # Files in a folder that could not be listed are unknown, not removed: their
        # last good sinks keep running (the folder's error is reported).
        paths += [p for p in self._files if p not in set(paths) and found.unknown(p)]
        present = set(paths)
        for gone in [p for p in self._files if p not in present]:
            del self._files[gone]
        for gone in [p for p in self._jobs if p not in present]:
            self._pool.cancel(self._jobs.pop(gone))
        states = [self._files[p] for p in paths if p in self._files]  # not: new, loading
        duplicates = duplicate_names({s.loaded.path: s.loaded.names for s in states})
        loose = (
            *(self._secrets.mask_diagnostic(d) for d in self._context_diagnostics),
            *found.problems,
        )
        issues: list[Diagnostic] = list(loose)
        verdicts: list[FileVerdict] = []
        files: list[FileResult] = []
        definitions: list[SinkDefinition] = []
        for path in paths:
            state = self._files.get(path)
            if state is None:  # a new file still loading: nothing of it runs yet
                verdicts.append(FileVerdict(path, False, False, False, (), pending=True))
                continue
            cross = duplicates.get(path, ())
            effective = state.loaded.diagnostics + cross
            files.append(replace(state.loaded, diagnostics=effective))
            key = _key(state.hash, cross)
            changed = state.key != key
            state.key = key
            ok = not any(d.severity is Severity.ERROR for d in effective)
            same_as_rejected = state.rejected_at == key
            newly_rejected = False
            if ok and not same_as_rejected:
                state.good, state.rejected_at, state.diagnostics = (
                    state.loaded.sinks,
                    None,
                    effective,
                )
                if changed:
                    issues.extend(effective)  # warnings of an accepted file
            elif not ok:
                newly_rejected = not same_as_rejected
                if newly_rejected:
                    issues.extend(effective)
                state.rejected_at, state.diagnostics = key, effective
            # a file rolled back at this key keeps its last good set and its issue
            rejected = state.rejected_at is not None
            verdicts.append(
                FileVerdict(
                    path, changed, rejected, newly_rejected, state.diagnostics, path in self._jobs
                )
            )
            definitions.extend(state.good)
        desired = self._choose(definitions, issues)
        self._desired = desired
        everything = (*loose, *(d for f in files for d in f.diagnostics))
        result = LoadResult(tuple(files), everything, self._env, self._secrets)
        return Poll(desired, tuple(verdicts), tuple(issues), result, tuple(loaded))

    def _choose(
        self, definitions: list[SinkDefinition], issues: list[Diagnostic]
    ) -> dict[str, SinkDefinition]:
        """One definition per name; when last-good sets collide, the file that owned it wins."""
        chosen: dict[str, SinkDefinition] = {}
        for sink in definitions:
            other = chosen.get(sink.name)
            if other is None:
                chosen[sink.name] = sink
                continue
            owner = self._desired.get(sink.name)
            keep = sink if owner is not None and owner.source_file == sink.source_file else other
            chosen[sink.name] = keep
            issues.append(
                Diagnostic(
                    Location(sink.source_file),
                    f"sink defined again; '{keep.source_file}' wins",
                    key=sink.name,
                )
            )
        return chosen

    # ------------------------------------------------------------- feedback, views
    def start_failed(
        self, failed: SinkDefinition, restored: SinkDefinition | None, error: str
    ) -> None:
        """``failed`` could not start: hold its file on ``restored`` until the file changes.

        With nothing to restore (a sink that never ran), the failed definition stays
        in the desired set, so the engine keeps showing it as failed without retrying.
        """
        state = self._files.get(failed.source_file)
        if state is None:
            return
        if restored is not None:
            good = [d for d in state.good if d.name != failed.name]
            state.good = (*good, restored)
            self._desired[failed.name] = restored
        state.rejected_at = state.key
        state.diagnostics = (
            *state.diagnostics,
            Diagnostic(
                Location(failed.source_file), f"sink could not start: {error}", key=failed.name
            ),
        )

    def issue_lines(self, path: str) -> tuple[str, ...]:
        """Lines for the status page: the file's diagnostics while it is rejected."""
        state = self._files.get(path)
        if state is None or state.rejected_at is None:
            return ()
        return tuple(d.format() for d in state.diagnostics)


def _key(file_hash: str, cross: tuple[Diagnostic, ...]) -> str:
    if not cross:
        return file_hash
    body = "\0".join(d.format() for d in cross)
    return hashlib.sha256(f"{file_hash}\0{body}".encode()).hexdigest()


def _masked(result: FileResult, secrets: SecretBook) -> FileResult:
    return replace(
        result, diagnostics=tuple(secrets.mask_diagnostic(d) for d in result.diagnostics)
    )
