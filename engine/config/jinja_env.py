"""The Jinja2 sandbox that sink templates run in, and where includes may come from.

Guarantees:

* ``Sandbox`` is Jinja2's ``SandboxedEnvironment`` (no ``_``-attributes, no Python
  internals) that also refuses results too large to be config: ``*`` repetitions and
  string padding beyond a million characters, and ``**`` beyond 4096 bits.
* ``RootedLoader`` finds includes and imports in ``<root>/_templates/`` then
  ``<root>/``; absolute names, ``..`` and symlinks leading outside the root raise
  ``TemplateProblem``.
* Compiled template code depends only on the text and the fixed options, so it is
  cached in memory by (text, file name).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from engine.config.yamlmarks import read_sink_text

MAX_SEQUENCE = 1_000_000


class TemplateProblem(jinja2.TemplateError):
    """A refusal raised from inside a template (outside root, missing secret, limits)."""


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


class Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # str.center(10**9) and friends allocate before the output cap can act.
        if isinstance(getattr(__obj, "__self__", None), str) and any(
            isinstance(a, int) and a > MAX_SEQUENCE for a in (*args, *kwargs.values())
        ):
            raise TemplateProblem("string result too large")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
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
