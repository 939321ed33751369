"""Differences between two sets of sink definitions, per sink and per key.

Guarantees:

* Comparison uses the canonical settings (defaults applied), so re-formatting a
  file, re-ordering keys, or spelling a default out explicitly is no difference;
  a changed default value would be.
* ``defaultHeaders`` and ``labels`` compare per entry (``defaultHeaders:<Name>``).
* Values are compared unmasked (a changed password is a difference) but only masked
  values are stored in the result: a secret never reaches an output.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.specification.model import SinkDefinition

Masker = Callable[[SinkDefinition], Mapping[str, Any]]


class ChangeKind(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class KeyChange:
    key: str
    kind: ChangeKind
    before: Any = None  # masked
    after: Any = None  # masked


@dataclass(frozen=True)
class SinkChange:
    name: str
    kind: ChangeKind
    keys: tuple[KeyChange, ...] = ()
    before_file: str | None = None
    after_file: str | None = None


@dataclass(frozen=True)
class DefinitionDiff:
    sinks: tuple[SinkChange, ...]

    @property
    def empty(self) -> bool:
        return not self.sinks


def flatten(definition: SinkDefinition, settings: Mapping[str, Any]) -> dict[str, Any]:
    """One flat map of everything that can differ: metadata plus settings entries."""
    flat: dict[str, Any] = {
        "enabled": definition.enabled,
        "description": definition.description,
    }
    for key, value in definition.labels.items():
        flat[f"labels:{key}"] = value
    for key, value in settings.items():
        if isinstance(value, Mapping):
            for sub, item in value.items():
                flat[f"{key}:{sub}"] = item
        else:
            flat[key] = value
    return flat


def diff_definitions(
    before: Iterable[SinkDefinition],
    after: Iterable[SinkDefinition],
    *,
    mask: Masker,
) -> DefinitionDiff:
    """Per-sink changes from ``before`` to ``after``; ``mask`` gives displayable settings."""
    old = {d.name: d for d in before}
    new = {d.name: d for d in after}
    changes: list[SinkChange] = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            changes.append(SinkChange(name, ChangeKind.REMOVED, before_file=old[name].source_file))
            continue
        if name not in old:
            changes.append(SinkChange(name, ChangeKind.ADDED, after_file=new[name].source_file))
            continue
        a, b = old[name], new[name]
        raw_a, raw_b = flatten(a, a.canonical), flatten(b, b.canonical)
        shown_a, shown_b = flatten(a, mask(a)), flatten(b, mask(b))
        keys: list[KeyChange] = []
        for key in sorted(raw_a.keys() | raw_b.keys()):
            if key not in raw_b:
                keys.append(KeyChange(key, ChangeKind.REMOVED, before=shown_a.get(key)))
            elif key not in raw_a:
                keys.append(KeyChange(key, ChangeKind.ADDED, after=shown_b.get(key)))
            elif raw_a[key] != raw_b[key]:
                keys.append(KeyChange(key, ChangeKind.CHANGED, shown_a.get(key), shown_b.get(key)))
        if keys:
            changes.append(
                SinkChange(name, ChangeKind.CHANGED, tuple(keys), a.source_file, b.source_file)
            )
    return DefinitionDiff(tuple(changes))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, default=str)


def format_text(diff: DefinitionDiff, before_label: str, after_label: str) -> str:
    """A readable report: one block per sink, ``-``/``+``/``~`` per key."""
    if diff.empty:
        return f"no differences between {before_label} and {after_label}\n"
    lines = [f"--- {before_label}", f"+++ {after_label}"]
    for sink in diff.sinks:
        if sink.kind is ChangeKind.ADDED:
            lines.append(f"+ sink {sink.name} (added, {sink.after_file})")
        elif sink.kind is ChangeKind.REMOVED:
            lines.append(f"- sink {sink.name} (removed, was {sink.before_file})")
        else:
            lines.append(f"~ sink {sink.name} ({len(sink.keys)} changed)")
            for key in sink.keys:
                if key.kind is ChangeKind.ADDED:
                    lines.append(f"    + {key.key}: {_show(key.after)}")
                elif key.kind is ChangeKind.REMOVED:
                    lines.append(f"    - {key.key}: {_show(key.before)}")
                else:
                    lines.append(f"    ~ {key.key}: {_show(key.before)} -> {_show(key.after)}")
    added = sum(1 for s in diff.sinks if s.kind is ChangeKind.ADDED)
    removed = sum(1 for s in diff.sinks if s.kind is ChangeKind.REMOVED)
    changed = len(diff.sinks) - added - removed
    lines.append(f"{added} added, {removed} removed, {changed} changed")
    return "\n".join(lines) + "\n"


def to_json(diff: DefinitionDiff, before_label: str, after_label: str) -> dict[str, Any]:
    return {
        "before": before_label,
        "after": after_label,
        "differences": not diff.empty,
        "sinks": [
            {
                "name": s.name,
                "change": s.kind.value,
                "before_file": s.before_file,
                "after_file": s.after_file,
                "keys": [
                    {"key": k.key, "change": k.kind.value, "before": k.before, "after": k.after}
                    for k in s.keys
                ],
            }
            for s in diff.sinks
        ],
    }
