"""The project's own error types.

Adapters translate every client-library exception into one of these two, so the
rest of the engine decides what to do from the type alone:

* ``TemporaryError`` - worth retrying after a delay (server away, broker down).
* ``PermanentError`` - retrying cannot help (bad credentials, authorisation,
  message too large, invalid configuration); the sink stops in FAILED.

``ConfigError`` carries compiler-style diagnostics from the config loader. The test
bed's errors (broker, certificates, jars, sandbox) derive from ``EngineError`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.specification.model import Diagnostic


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class TemporaryError(EngineError):
    """A failure that may go away by itself (the worker's own backoff decides when to retry)."""


class PermanentError(EngineError):
    """A failure that retrying will not fix."""


class WrongExpectedVersion(PermanentError):
    """An append found its stream moved on: someone else wrote to it meanwhile."""


class ConfigError(EngineError):
    """One or more configuration diagnostics (already formatted for people)."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))
