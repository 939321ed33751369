"""Sink names used more than once: the one place they are diagnosed.

Guarantees (``duplicate_names``):

* A name repeated inside one file is an error on each repeat, naming the first use.
* A name used in several files is an error on its first use in every one of them,
  naming the others, so neither definition is trusted.
* The other places are ``Related`` data on the diagnostic, not message text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.specification.model import Diagnostic, Location, Related


def _duplicate(where: Location, name: str, others: Sequence[Location]) -> Diagnostic:
    return Diagnostic(
        where,
        f"duplicate sink name '{name}'",
        key="name",
        related=tuple(Related(o) for o in others),
    )


def duplicate_names(
    names_by_file: Mapping[str, Sequence[tuple[str, Location]]],
) -> dict[str, tuple[Diagnostic, ...]]:
    """File path → its duplicate-name diagnostics (files without any are left out)."""
    found: dict[str, list[Diagnostic]] = {}
    first_uses: dict[str, list[tuple[str, Location]]] = {}  # name → (path, location)
    for path, names in names_by_file.items():
        first_here: dict[str, Location] = {}
        for name, where in names:
            first = first_here.get(name)
            if first is not None:
                found.setdefault(path, []).append(_duplicate(where, name, (first,)))
                continue
            first_here[name] = where
            first_uses.setdefault(name, []).append((path, where))
    for name, uses in first_uses.items():
        if len(uses) < 2:
            continue
        for path, where in uses:
            others = [o for p, o in uses if (p, o) != (path, where)]
            found.setdefault(path, []).append(_duplicate(where, name, others))
    return {path: tuple(diagnostics) for path, diagnostics in found.items()}
