"""A JSONPath (RFC 9535) query checked the way ``validate`` checks it, with a one-line reason.

jsonpath-rfc9535 1.x words a syntax error as ``reason, line L, column C``; 2.x draws
the query over several lines with a pointer under the fault. Diagnostics are one line
each (``file:line:col: error: ...``), so the 2.x error is put in the 1.x shape: its
first argument is the reason, and its token's second item the offset in the query.
"""

from __future__ import annotations

import jsonpath_rfc9535


def one_line(exc: jsonpath_rfc9535.JSONPathError, expression: str) -> str:
    """``reason, line L, column C`` (column counted from 0, as both versions count it)."""
    if not callable(getattr(exc, "detailed_message", None)):
        return str(exc)  # 1.x: already one line
    reason = str(exc.args[0]) if exc.args else type(exc).__name__
    token = getattr(exc, "token", None)
    offset = token[1] if isinstance(token, tuple) and len(token) > 1 else None
    if not isinstance(offset, int):
        return reason
    before = expression[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1)
    return f"{reason}, line {line}, column {column}"


def syntax_error(expression: str) -> str | None:
    """Why the package's default environment refuses ``expression``, or None."""
    try:
        jsonpath_rfc9535.compile(expression)
    except jsonpath_rfc9535.JSONPathError as exc:
        return one_line(exc, expression)
    return None
