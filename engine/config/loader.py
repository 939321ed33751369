"""Loading ``sinks.d/`` in one go, and what the export commands show of a sink.

``load_directory`` is one poll of a fresh ``ConfigSource`` (engine.config.source,
where the walk, per-file loading and duplicate names live); ``load_file`` loads a
single file on its own. Guarantees:

* Neither raises for anything a file holds: every problem is a ``Diagnostic`` with a
  location, and every file is loaded on its own, so one broken file never hides
  another file's sinks or errors.
* A file is ``ok`` only when it has no errors; ``LoadResult.definitions`` holds the
  sinks of ok files only.
* ``masked_settings`` / ``masked_written`` never show a sensitive value or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config.masking import mask_settings
from engine.config.sinkfile import FileResult as FileResult
from engine.config.source import ConfigSource
from engine.config.source import LoadResult as LoadResult
from engine.config.templating import MASK, MissingSecrets, SecretBook
from engine.config.walk import is_sink_file as is_sink_file
from engine.specification.constants import DEFAULT_SINKS_DIR
from engine.specification.model import SinkDefinition


def masked_settings(definition: SinkDefinition, secrets: SecretBook) -> dict[str, Any]:
    """Canonical settings safe to print: sensitive keys and any value holding a secret masked."""
    shown = mask_settings(definition.plain_canonical())
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
        if key in shown and shown[key] != definition.canonical.get(key):
            written[key] = shown[key]
    return written


def load_directory(
    root: str | Path = DEFAULT_SINKS_DIR,
    *,
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    missing_secrets: MissingSecrets = MissingSecrets.ERROR,
    environ: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load every sink file under ``root`` for ``env`` (values from ``_values/<env>.yaml``)."""
    source = ConfigSource(
        root, env=env, overrides=overrides, missing_secrets=missing_secrets, environ=environ
    )
    return source.load()


def load_file(
    path: str | Path,
    *,
    root: str | Path = DEFAULT_SINKS_DIR,
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    missing_secrets: MissingSecrets = MissingSecrets.ERROR,
    environ: Mapping[str, str] | None = None,
) -> FileResult:
    """Load one sink file (names repeated across files need ``load_directory``)."""
    source = ConfigSource(
        root, env=env, overrides=overrides, missing_secrets=missing_secrets, environ=environ
    )
    return source.load_file(path)
