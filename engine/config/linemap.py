"""Mapping lines of a rendered template back to the template lines that wrote them.

Guarantees: ``LineMap.map`` returns a template (line, column) only when it can tell
for sure (same line count, one template line written exactly like the rendered line,
or exactly one template line matching it with its ``{{ … }}`` parts as wildcards);
otherwise None, and the caller says "in the rendered output" instead of guessing.
"""

from __future__ import annotations

import re

_EXPR = re.compile(r"\{\{.*?\}\}|\{#.*?#\}")


class LineMap:
    """Maps a rendered line back to the template line that produced it, when it can.

    A rendered line maps to a template line when the line counts are equal (the
    template adds no lines), or when exactly one template text line matches it with
    its ``{{ … }}`` parts as wildcards. Otherwise the rendered line has no template line.
    """

    def __init__(self, template: str, rendered: str) -> None:
        self.template_lines = template.splitlines()
        self.rendered_lines = rendered.splitlines()
        self._patterns: list[tuple[int, re.Pattern[str]]] | None = None
        self._targets: dict[int, int | None] = {}

    @property
    def identical_shape(self) -> bool:
        return len(self.template_lines) == len(self.rendered_lines)

    def _compiled(self) -> list[tuple[int, re.Pattern[str]]]:
        if self._patterns is None:
            self._patterns = []
            for number, line in enumerate(self.template_lines, start=1):
                if "{%" in line or not line.strip():
                    continue
                literal = _EXPR.split(line)
                if not "".join(literal).strip():
                    continue
                pattern = ".*?".join(re.escape(part) for part in literal)
                self._patterns.append((number, re.compile(pattern)))
        return self._patterns

    def _target(self, line: int) -> int | None:
        if line in self._targets:
            return self._targets[line]
        rendered = self.rendered_lines[line - 1].rstrip()
        # A template line written exactly like the rendered one wins over wildcard matches.
        hits = [n for n, t in enumerate(self.template_lines, 1) if t.rstrip() == rendered]
        if not hits:
            hits = [n for n, p in self._compiled() if p.fullmatch(rendered)]
        target = hits[0] if len(hits) == 1 else None
        self._targets[line] = target
        return target

    def map(self, line: int, column: int) -> tuple[int, int] | None:
        if line <= 0 or line > len(self.rendered_lines):
            return None
        rendered = self.rendered_lines[line - 1]
        target = line if self.identical_shape else self._target(line)
        if target is None:
            return None
        source = self.template_lines[target - 1]
        prefix = rendered[: max(column - 1, 0)]
        if not source.startswith(prefix):
            column = len(source) - len(source.lstrip()) + 1
        return target, column
