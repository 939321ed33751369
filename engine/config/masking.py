"""Hiding secret setting values before they are printed, logged or diffed.

``mask_settings`` guarantees that the value of every sensitive setting (the
settings tables' Sensitive column, plus any key the caller names, e.g. values that
came from a secret) is replaced by ``"***"`` in the copy it returns, whichever way
the key was written: canonical flat, another letter case, or nested mappings.
The input is never changed. Unset values (None, "") stay as they are, so "no
password" remains visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.specification.tables import load_catalogue

MASK = "***"


def sensitive_keys() -> frozenset[str]:
    """Canonical keys the settings tables mark as sensitive."""
    return load_catalogue().sensitive_keys


def mask_settings(settings: Mapping[str, Any], *, extra: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of ``settings`` with sensitive values replaced by ``"***"``.

    ``extra`` names further keys to hide (flat, any case), such as settings whose
    value was given as a secret.
    """
    hidden = {key.lower() for key in sensitive_keys()} | {key.lower() for key in extra}
    return _mask(settings, (), hidden)


def _mask(mapping: Mapping[str, Any], prefix: tuple[str, ...], hidden: set[str]) -> dict[str, Any]:
    copy: dict[str, Any] = {}
    for key, value in mapping.items():
        path = (*prefix, str(key))
        joined = ":".join(path).lower()
        if joined in hidden and value not in (None, ""):
            copy[key] = MASK
        elif isinstance(value, Mapping):
            copy[key] = _mask(value, path, hidden)
        else:
            copy[key] = value
    return copy
