"""The Jinja2 sandbox that sink templates run in, and where includes may come from.

Guarantees:

* ``Sandbox`` is Jinja2's ``SandboxedEnvironment`` (no ``_``-attributes, no Python
  internals) that also refuses results too large to be config before building them:
  ``*`` repetitions, ``+`` and ``~`` concatenations, ``replace`` and ``join`` results
  beyond a million characters; a number over a million given to a filter or a string
  method (padding, indent, wrap widths); field widths over a million in ``%`` and
  ``format``; ``lipsum`` beyond ``MAX_LIPSUM_PARAGRAPHS`` paragraphs of
  ``MAX_LIPSUM_WORDS`` words; and ``**`` beyond 4096 bits.
* Time: ``start_clock(seconds)`` sets a deadline that every call, filter, operator,
  concatenation and loop range checks, so a render stops with ``TemplateProblem``
  soon after it (no single step can run long: the size limits above bound each).
  The same checks stop a render whose cancel event (``cancel_renders_on``) is set.
* Thread safety: one ``Sandbox`` may render on several threads at once. The clock
  (deadline, cancel event) is kept per thread, not on the shared environment, and
  is plain ``time.monotonic()`` arithmetic, no signal or alarm: it works the same
  off the main thread. Compiled code and Jinja's template cache are safe to share.
* ``RootedLoader`` finds includes and imports in ``<root>/_templates/`` then
  ``<root>/``; absolute names, ``..`` and symlinks leading outside the root raise
  ``TemplateProblem``.
* Compiled template code depends only on the text and the fixed options, so it is
  cached in memory by (text, file name).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from engine.config.secretbook import SecretBook
from engine.config.yamlmarks import read_sink_text

MAX_SEQUENCE = 1_000_000
MAX_LIPSUM_PARAGRAPHS = 100
MAX_LIPSUM_WORDS = 200
# Field widths and precisions in printf-style ("%10.3f") and str.format ("{:>10}") text.
_PRINTF_WIDTHS = re.compile(r"%[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_WIDTHS = re.compile(r"\{[^{}]*?:[^{}]*?(\d+)")


class TemplateProblem(jinja2.TemplateError):
    """A refusal raised from inside a template (outside root, missing secret, limits)."""


class Secret(str):
    """A secret's value in a template: written out, or joined with other text (``~``,
    ``+``, ``join``), it stays whole for its book to find and mask. Changed, it would
    be text no book knows, printed in clear: so filters (but those below), string
    methods, indexes, slices, iteration and ``%`` / ``format`` refuse it with a
    ``TemplateProblem``. ``tojson``, the usual way to quote a value in YAML, is allowed:
    its escaped form joins the book too."""

    book: SecretBook

    def __new__(cls, value: str, book: SecretBook) -> Secret:
        secret = super().__new__(cls, value)
        secret.book = book
        return secret

    def __getitem__(self, index: Any) -> str:
        _refuse_changed_secret("an index or a slice")
        raise AssertionError  # not reached

    def __iter__(self) -> Iterator[str]:
        _refuse_changed_secret("a loop over its characters")
        raise AssertionError  # not reached


# Filters that give the secret back whole, its length, or (tojson) an escaped form that
# joins the book: every other filter refuses a secret.
SECRET_SAFE_FILTERS = frozenset({"string", "safe", "default", "d", "length", "count", "tojson"})


class _Clock(threading.local):
    """One thread's render clock: each thread renders one template at a time."""

    deadline = math.inf
    limit = math.inf
    cancel: threading.Event | None = None


_CANCEL = _Clock()  # the cancel event renders started on this thread obey


@contextlib.contextmanager
def cancel_renders_on(event: threading.Event) -> Iterator[None]:
    """Renders started on this thread inside the block stop soon after ``event`` is set."""
    before, _CANCEL.cancel = _CANCEL.cancel, event
    try:
        yield
    finally:
        _CANCEL.cancel = before


def current_cancel() -> threading.Event | None:
    """The cancel event of ``cancel_renders_on`` on this thread, if any."""
    return _CANCEL.cancel


class RootedLoader(jinja2.BaseLoader):
    """Finds includes in ``_templates/`` then the root; never outside the root."""

    def __init__(self, root: Path, templates_dir: str) -> None:
        self.root = root.resolve()
        self.search = (self.root / templates_dir, self.root)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if template.startswith("/") or "\\" in template or ".." in template.split("/"):
            raise TemplateProblem(f"template '{template}' is outside the config root")
        for base in self.search:
            candidate = base / template
            if not candidate.is_file():
                continue
            real = candidate.resolve()
            if not real.is_relative_to(self.root):
                raise TemplateProblem(
                    f"template '{template}' resolves outside the config root (symlink)"
                )
            text, problem = read_sink_text(real, template)
            if problem is not None or text is None:
                raise TemplateProblem(
                    f"template '{template}': {problem.message if problem else ''}"
                )
            return text, str(real), _unchanged(real, real.stat().st_mtime)
        raise jinja2.TemplateNotFound(template)


def _unchanged(path: Path, mtime: float) -> Callable[[], bool]:
    return lambda: path.exists() and path.stat().st_mtime == mtime


def _too_large_number(args: Iterable[Any]) -> bool:
    return any(isinstance(a, int) and not isinstance(a, bool) and a > MAX_SEQUENCE for a in args)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _check_widths(pattern: re.Pattern[str], text: str) -> None:
    for match in pattern.finditer(text):
        for width in match.groups():
            if width == "*" or (width is not None and int(width) > MAX_SEQUENCE):
                raise TemplateProblem("format width too large")


def _check_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(old, str) or not isinstance(new, str):
        return
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * len(new) > MAX_SEQUENCE:
        raise TemplateProblem("replace result too large")


def _check_join(separator: Any, items: Any) -> None:
    if isinstance(items, list | tuple) and isinstance(separator, str):
        total = len(separator) * len(items) + sum(_size(i) for i in items)
        if total > MAX_SEQUENCE:
            raise TemplateProblem("join result too large")


class _CheckedCodegen(CodeGenerator):
    """Compiles ``a ~ b`` to a call the sandbox sees (Jinja joins it directly)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CheckedCodegen

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._clock = _Clock()  # per thread: renders on other threads have their own
        self.globals["lipsum"] = self._lipsum
        self.filters = {name: self._guarded(f, name) for name, f in self.filters.items()}

    # -- time ----------------------------------------------------------------------------

    def start_clock(self, seconds: float) -> None:
        """Start this thread's render: ``seconds`` from now, and the thread's cancel event."""
        clock = self._clock
        clock.limit = seconds
        clock.deadline = time.monotonic() + seconds
        clock.cancel = _CANCEL.cancel

    def check_time(self) -> None:
        clock = self._clock
        if time.monotonic() > clock.deadline:
            raise TemplateProblem(f"rendering took longer than {clock.limit:g} s")
        if clock.cancel is not None and clock.cancel.is_set():
            raise TemplateProblem("rendering cancelled")

    # -- sizes ---------------------------------------------------------------------------

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        if n > MAX_LIPSUM_PARAGRAPHS or max > MAX_LIPSUM_WORDS:
            raise TemplateProblem(
                f"lipsum is limited to {MAX_LIPSUM_PARAGRAPHS} paragraphs of "
                f"{MAX_LIPSUM_WORDS} words"
            )
        return str(generate_lorem_ipsum(n, html, min, max))

    def _guarded(self, function: Callable[..., Any], filter_name: str) -> Callable[..., Any]:
        name = getattr(function, "__name__", "")
        secret_safe = filter_name in SECRET_SAFE_FILTERS

        @wraps(function)  # keeps Jinja's pass_context/pass_environment marks
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.check_time()
            if not secret_safe and _holds_secret((*args, *kwargs.values())):
                _refuse_changed_secret(f"the '{filter_name}' filter")
            if filter_name == "tojson" and args and isinstance(args[-1], Secret):
                quoted = str(function(*args, **kwargs))
                args[-1].book.add(quoted[1:-1])  # the escaped text between the quotes
                return quoted
            if _too_large_number((*args, *kwargs.values())):
                raise TemplateProblem("filter argument too large")
            values = [a for a in args if isinstance(a, str)]
            if name == "do_replace" and len(values) >= 3:
                _check_replace(*values[:3])
            if name == "do_format" and values:
                _check_widths(_PRINTF_WIDTHS, values[0])
            if name == "do_join" and len(args) >= 2:
                _check_join(args[2] if len(args) > 2 else kwargs.get("d", ""), args[1])
            return function(*args, **kwargs)

        return guarded

    def checked_concat(self, parts: tuple[Any, ...]) -> str:
        self.check_time()
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > MAX_SEQUENCE:
            raise TemplateProblem("concatenation result too large")
        return "".join(texts)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_widths(_FORMAT_WIDTHS, value.__self__)

        @wraps(wrapped)
        def checked(*args: Any, **kwargs: Any) -> str:
            if _holds_secret((*args, *kwargs.values())):
                _refuse_changed_secret("'format()' (join it with '~' instead)")
            if _too_large_number((*args, *kwargs.values())):
                raise TemplateProblem("string result too large")
            return wrapped(*args, **kwargs)

        return checked

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self.check_time()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):  # a string method: macros may take secrets as they are
            method = getattr(__obj, "__name__", "")
            changes_a_secret = isinstance(owner, Secret) or (
                method != "join" and _holds_secret((*args, *kwargs.values()))
            )
            if changes_a_secret:
                _refuse_changed_secret(f"'{method}()'")
        if isinstance(owner, str):
            # str.center(10**9) and friends allocate before the output cap can act.
            if _too_large_number((*args, *kwargs.values())):
                raise TemplateProblem("string result too large")
            method = getattr(__obj, "__name__", "")
            if method == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:3])
            elif method == "join" and args:
                _check_join(owner, args[0])
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "+":
            if _size(left) + _size(right) > MAX_SEQUENCE:
                raise TemplateProblem("concatenation result too large")
            return left + right
        if operator == "%":
            if isinstance(left, str):
                _check_widths(_PRINTF_WIDTHS, left)
                if _holds_secret(right if isinstance(right, tuple | list) else (right,)):
                    _refuse_changed_secret("'%' formatting (join it with '~' instead)")
            return left % right
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_SEQUENCE
                ):
                    raise TemplateProblem("repetition result too large")
            return left * right
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * math.log2(abs(left)) > 4096
        ):
            raise TemplateProblem("power result too large")
        return left**right


@lru_cache(maxsize=2048)
def _compiled_code(source: str, filename: str) -> Any:
    # Compiled code depends only on the text and the (fixed) sandbox options.
    return _CODEGEN.compile(source, name=Path(filename).name, filename=filename)


def compile_template(sandbox: Sandbox, source: str, filename: str) -> jinja2.Template:
    code = _compiled_code(source, filename)
    return sandbox.template_class.from_code(sandbox, code, sandbox.make_globals(None))


SANDBOX_OPTIONS: dict[str, Any] = {
    "undefined": jinja2.StrictUndefined,
    "autoescape": False,
    "keep_trailing_newline": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
}
_CODEGEN = Sandbox(**SANDBOX_OPTIONS)


def _holds_secret(values: Iterable[Any]) -> bool:
    return any(isinstance(v, Secret) for v in values)


def _refuse_changed_secret(what: str) -> None:
    raise TemplateProblem(
        f"a secret cannot go through {what}: only its exact value is masked in every "
        "output, so a changed form of it would be printed in clear"
    )
