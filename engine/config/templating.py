"""Rendering ``*.yaml.j2`` sink files: sandboxed Jinja2 with values per environment.

Guarantees:

* Templates run in Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``: a
  missing variable, ``''.__class__`` style access to Python internals, an include
  outside the config root, an unknown environment variable or secret, endless
  recursion or an oversized output each become one ``Diagnostic`` pointing at the
  template line — never an exception.
* Values come from ``<root>/_values/<env>.yaml`` (plain YAML, not templated) and
  ``--set key.sub=value`` overrides (the value is read as a YAML scalar).
* ``secret("NAME")`` (environment variable) and ``secret_file("path")`` return the
  secret and remember it in a ``SecretBook``; every output path masks what the book
  holds, so a secret's value is never printed, even when it ends up inside a longer
  string or in an error message.
* The line map (``engine.config.linemap``) and the secret book
  (``engine.config.secretbook``) live in their own modules and are re-exported here.
* Includes and imports resolve in ``<root>/_templates/`` then ``<root>/``; a name or
  symlink that leads outside the root is refused.
* ``render`` may run on several threads at once for one context (the config source
  renders changed files in parallel): what one render counts (loop iterations,
  placeholder warnings) and its clock are the calling thread's own, and the secret
  book is locked. Values are shared: a template that changes them through a dict
  method changes them for the files rendering after it in the same process (each
  worker of ``engine.config.isolation`` renders in its own copy of the context).
* A context travels to a worker process as a ``ContextSpec`` (``spec``, made once)
  and is rebuilt there by ``from_spec``, with the parent's values and render bound.
"""

from __future__ import annotations

import enum
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from engine.config.jinja_env import (
    SANDBOX_OPTIONS,
    RootedLoader,
    Sandbox,
    Secret,
    TemplateProblem,
    compile_template,
)
from engine.config.linemap import LineMap
from engine.config.regularfiles import Refused, read_regular
from engine.config.secretbook import MASK, PLACEHOLDER, SecretBook
from engine.config.yamlmarks import MAX_FILE_BYTES, parse_yaml, read_sink_text
from engine.sandbox.limits import address_space_limited
from engine.specification.constants import SECRET_DIRS_VARIABLE
from engine.specification.model import Diagnostic, Location, Severity

TEMPLATES_DIR = "_templates"
VALUES_DIR = "_values"
SECRET_FILE_MAX_BYTES = 65536  # a secret is a password or a key, never a file's worth
# Loops are the only way a small template can run for long: bound their total work.
MAX_RANGE_TOTAL = 200_000
MAX_RENDER_SECONDS = 10.0
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NO_DEFAULT = object()


class MissingSecrets(enum.Enum):
    """What a missing secret does: fail the file, or render a placeholder (for CI checks)."""

    ERROR = "error"
    PLACEHOLDER = "placeholder"


@dataclass(frozen=True)
class RenderOutcome:
    """The rendered text (None on failure), diagnostics and a rendered→template line map."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...]
    line_map: LineMap | None = None


@dataclass(frozen=True)
class ContextSpec:
    """What a worker process needs to render as a parent's ``TemplateContext`` does.

    The values are the parent's, as loaded and overridden, so a worker never reads
    ``_values/`` again; ``render_seconds`` is the parent's render bound. ``token``
    names the parent's context: a worker keeps the context it built for a token and
    renders the next file of that context in it, as the parent would have.
    """

    token: str
    root: str
    display_root: str
    env: str | None
    values: dict[str, Any]
    missing_secrets: MissingSecrets
    environ: dict[str, str]
    render_seconds: float


@dataclass
class _RenderState:
    ranges: int = 0
    started: float = field(default_factory=time.monotonic)
    warnings: list[tuple[str, str | None, int]] = field(default_factory=list)


def list_envs(root: Path) -> list[str]:
    """Environment names: every ``<root>/_values/<env>.yaml`` (or ``.yml``)."""
    folder = root / VALUES_DIR
    if not folder.is_dir():
        return []
    names = {p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.suffix in (".yaml", ".yml")}
    return sorted(n for n in names if _ENV_NAME.match(n))


def parse_override(text: str) -> tuple[str, str] | None:
    """``key.sub=value`` → (``key.sub``, ``value``); None when there is no ``=``."""
    if "=" not in text:
        return None
    key, raw = text.split("=", 1)
    return key.strip(), raw


def scalar_value(raw: str) -> Any:
    """An override's text read as a YAML scalar (``3`` → 3, ``true`` → True); else the text."""
    if not raw.strip():
        return raw
    parsed = parse_yaml(raw, "--set")
    if parsed.ok and len(parsed.documents) == 1:
        candidate = parsed.documents[0].value
        if not isinstance(candidate, dict | list):
            return candidate
    return raw


class TemplateContext:
    """Everything a directory's templates share: values, secrets, the sandbox."""

    def __init__(
        self,
        root: Path,
        display_root: str,
        *,
        env: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        secrets: SecretBook | None = None,
        missing_secrets: MissingSecrets = MissingSecrets.ERROR,
        environ: Mapping[str, str] | None = None,
        values: dict[str, Any] | None = None,
        render_seconds: float | None = None,
    ) -> None:
        """``values``: already loaded and overridden (``env`` and ``overrides`` unread)."""
        self.root = root
        self.real_root = root.resolve()
        self.display_root = display_root
        self.env = env
        self.secrets = secrets if secrets is not None else SecretBook()
        self.missing_secrets = missing_secrets
        self.environ = os.environ if environ is None else environ
        self.values: dict[str, Any] = {} if values is None else values
        self.render_seconds = render_seconds  # None: MAX_RENDER_SECONDS when rendering
        diagnostics: list[Diagnostic] = []
        if env is not None and values is None:
            diagnostics.extend(self._load_values(env))
        for key, value in (overrides or {}).items() if values is None else ():
            # Overrides arrive as text (command line, engine options): read them as YAML.
            typed = scalar_value(value) if isinstance(value, str) else value
            diagnostics.extend(self._apply_override(key, typed))
        self.diagnostics = tuple(diagnostics)
        self.sandbox = Sandbox(loader=RootedLoader(root, TEMPLATES_DIR), **SANDBOX_OPTIONS)
        # Values are globals too, so macros imported from _templates/ see them.
        self.sandbox.globals.update(self.values)
        self.sandbox.globals.update(
            env=self._env,
            secret=self._secret,
            secret_file=self._secret_file,
            range=self._range,
            values=self.values,
            environment=self.env,
        )
        self._local = threading.local()  # the render state of each thread's render
        self._spec: ContextSpec | None = None

    def spec(self) -> ContextSpec:
        """This context as a worker process rebuilds it (``from_spec``); made once."""
        if self._spec is None:
            self._spec = self._make_spec()
        return self._spec

    def _make_spec(self) -> ContextSpec:
        return ContextSpec(
            uuid.uuid4().hex,
            str(self.root),
            self.display_root,
            self.env,
            self.values,
            self.missing_secrets,
            dict(self.environ),
            MAX_RENDER_SECONDS if self.render_seconds is None else self.render_seconds,
        )

    @classmethod
    def from_spec(cls, spec: ContextSpec) -> TemplateContext:
        """A context rendering as the parent's did, with a secret book of its own."""
        return cls(
            Path(spec.root),
            spec.display_root,
            env=spec.env,
            missing_secrets=spec.missing_secrets,
            environ=spec.environ,
            values=spec.values,
            render_seconds=spec.render_seconds,
        )

    @property
    def _state(self) -> _RenderState:
        state: _RenderState | None = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = _RenderState()
        return state

    def display(self, real: Path) -> str:
        try:
            rel = real.resolve().relative_to(self.real_root)
        except ValueError:
            return str(real)
        return os.path.join(self.display_root, str(rel))

    def _load_values(self, env: str) -> list[Diagnostic]:
        values_dir = os.path.join(self.display_root, VALUES_DIR)
        if not _ENV_NAME.match(env):
            return [Diagnostic(Location(values_dir), f"invalid environment name '{env}'")]
        for suffix in (".yaml", ".yml"):
            file = self.root / VALUES_DIR / f"{env}{suffix}"
            if os.path.lexists(file):  # a FIFO or folder of that name is an error below
                break
        else:
            known = ", ".join(list_envs(self.root)) or "none"
            return [
                Diagnostic(
                    Location(os.path.join(values_dir, f"{env}.yaml")),
                    f"no values file for environment '{env}' (environments: {known})",
                )
            ]
        display = os.path.join(values_dir, file.name)
        if not file.resolve().is_relative_to(self.real_root):
            return [Diagnostic(Location(display), "values file is outside the config root")]
        text, problem = read_sink_text(file, display)
        if problem is not None or text is None:
            return [problem] if problem else []
        parsed = parse_yaml(text, display)
        found = list(parsed.diagnostics)
        if len(parsed.documents) > 1:
            found.append(Diagnostic(parsed.documents[1].start, "a values file holds one document"))
        if parsed.documents:
            first = parsed.documents[0]
            if isinstance(first.value, dict):
                self.values = first.value
            else:
                found.append(Diagnostic(first.start, "a values file must be a mapping"))
        return found

    def _apply_override(self, dotted: str, value: Any) -> list[Diagnostic]:
        parts = dotted.split(".")
        if not dotted or any(not p for p in parts):
            return [Diagnostic(Location("--set"), f"invalid key '{dotted}'")]
        target = self.values
        for depth, part in enumerate(parts[:-1]):
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                prefix = ".".join(parts[: depth + 1])
                return [Diagnostic(Location("--set"), f"{dotted}: '{prefix}' is not a mapping")]
            target = nxt
        target[parts[-1]] = value
        return []

    # -- functions available in templates ------------------------------------------------

    def _env(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        if name in self.environ:
            return self.environ[name]
        if default is _NO_DEFAULT:
            raise TemplateProblem(f"environment variable '{name}' is not set (and no default)")
        return default

    def _secret(self, name: str) -> str:
        value = self.environ.get(str(name))
        if value is None:
            return self._missing(f"secret '{name}' is not set (environment variable {name})")
        self.secrets.add(value)
        return Secret(value, self.secrets)

    def _secret_file(self, path: str) -> str:
        candidate = Path(str(path))
        if not candidate.is_absolute():
            candidate = self.root / candidate
        real = candidate.resolve()
        allowed = [self.real_root] + [
            Path(d).resolve()
            for d in self.environ.get(SECRET_DIRS_VARIABLE, "").split(os.pathsep)
            if d
        ]
        if not any(real.is_relative_to(a) for a in allowed):
            raise TemplateProblem(
                f"secret_file '{path}' is outside the config root and {SECRET_DIRS_VARIABLE}"
            )
        if not os.path.lexists(real):
            return self._missing(f"secret file '{path}' does not exist")
        try:
            value = read_regular(real, SECRET_FILE_MAX_BYTES).decode("utf-8").rstrip("\r\n")
        except Refused as refused:
            raise TemplateProblem(f"secret file '{path}' {refused}") from None
        except (OSError, UnicodeDecodeError):
            raise TemplateProblem(f"secret file '{path}' is not readable UTF-8 text") from None
        self.secrets.add(value)
        return Secret(value, self.secrets)

    def _missing(self, message: str) -> str:
        if self.missing_secrets is MissingSecrets.ERROR:
            raise TemplateProblem(message)
        filename, line = _template_line()
        self._state.warnings.append((f"{message}; a placeholder was used", filename, line))
        # Plain text, so it stays valid YAML wherever it lands; masked like a secret.
        self.secrets.add(PLACEHOLDER)
        return PLACEHOLDER

    def _range(self, *args: int) -> range:
        self.sandbox.check_time()
        result = range(*args)
        self._state.ranges += len(result)
        if self._state.ranges > MAX_RANGE_TOTAL:
            raise TemplateProblem(f"loops exceed {MAX_RANGE_TOTAL} iterations in total")
        return result

    # -- rendering ----------------------------------------------------------------------

    def render(self, file: Path, display: str, source: str) -> RenderOutcome:
        self._local.state = _RenderState()
        seconds = MAX_RENDER_SECONDS if self.render_seconds is None else self.render_seconds
        self.sandbox.start_clock(seconds)
        real = str(file.resolve())
        try:
            template = compile_template(self.sandbox, source, real)
            pieces: list[str] = []
            size = 0
            for piece in template.generate(**self.values):
                size += len(piece)
                if size > MAX_FILE_BYTES:
                    raise TemplateProblem("rendered output is larger than 1 MiB")
                self.sandbox.check_time()
                pieces.append(piece)
            text = "".join(pieces)
        except jinja2.TemplateSyntaxError as exc:
            where = self._syntax_location(exc, real, display)
            message = f"template syntax error: {exc.message}"
            return RenderOutcome(None, (self._diag(where, message),))
        except MemoryError as exc:
            if address_space_limited():
                raise  # the bounded worker that set the limit reports it
            where = self._runtime_location(exc.__traceback__, real, display)
            return RenderOutcome(None, (self._diag(where, self._describe(exc)),))
        except (jinja2.TemplateError, RecursionError, OverflowError) as exc:
            where = self._runtime_location(exc.__traceback__, real, display)
            return RenderOutcome(None, (self._diag(where, self._describe(exc)),))
        except Exception as exc:  # a filter or method failing on bad input
            where = self._runtime_location(exc.__traceback__, real, display)
            message = f"template error: {type(exc).__name__}: {exc}"
            return RenderOutcome(None, (self._diag(where, message),))
        warnings = tuple(
            self.secrets.mask_diagnostic(
                Diagnostic(
                    Location(
                        display if filename in (None, real) else self.display(Path(filename or "")),
                        line,
                    ),
                    message,
                    severity=Severity.WARNING,
                )
            )
            for message, filename, line in self._state.warnings
        )
        return RenderOutcome(text, warnings, LineMap(source, text))

    def _diag(self, where: Location, message: str) -> Diagnostic:
        note = None
        if self.env is None and "undefined" in message:
            note = (
                "no environment given (--env): values from "
                f"{os.path.join(self.display_root, VALUES_DIR)}/<env>.yaml are not loaded"
            )
        return self.secrets.mask_diagnostic(Diagnostic(where, message, note=note))

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, RecursionError):
            return "template recursion is too deep"
        if isinstance(exc, MemoryError | OverflowError):
            return "template result is too large"
        if isinstance(exc, jinja2.UndefinedError):
            text = str(exc.message or exc)
            if "unsafe" in text:
                return f"template refused: {text}"
            return f"undefined: {text}"
        if isinstance(exc, jinja2.TemplateNotFound):
            return f"template '{exc.name}' not found in {TEMPLATES_DIR}/ or the config root"
        if isinstance(exc, jinja2.exceptions.SecurityError):
            return f"template refused: {exc}"
        if isinstance(exc, TemplateProblem):
            return str(exc.message or exc)
        return f"template error: {exc}"

    def _syntax_location(
        self, exc: jinja2.TemplateSyntaxError, real: str, display: str
    ) -> Location:
        shown = display if exc.filename in (None, real) else self.display(Path(exc.filename))
        return Location(shown, exc.lineno or 0)

    def _runtime_location(self, tb: TracebackType | None, real: str, display: str) -> Location:
        """The innermost template frame's file and line (Jinja rewrites tracebacks so)."""
        found: Location | None = None
        for filename, lineno in _frames(tb):
            if filename == real:
                found = Location(display, lineno)
            elif filename.startswith(str(self.real_root)):
                found = Location(self.display(Path(filename)), lineno)
        return found or Location(display)


def _template_line() -> tuple[str | None, int]:
    """File and line of the innermost template frame calling us (0 when unknown)."""
    frame = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:
            return template.filename, template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None, 0


def _frames(tb: TracebackType | None) -> Iterator[tuple[str, int]]:
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next


__all__ = [
    "MASK",
    "PLACEHOLDER",
    "ContextSpec",
    "LineMap",
    "MissingSecrets",
    "RenderOutcome",
    "SecretBook",
    "TemplateContext",
    "TemplateProblem",
    "list_envs",
    "parse_override",
    "scalar_value",
]
