"""What a reload has to do, computed without touching anything.

``plan(current, desired)`` compares two name → ``SinkDefinition`` maps on
``SinkDefinition.digest`` (name, enabled flag and canonical settings). Formatting,
comments, key spelling or moving a sink to another file never change the digest,
so such edits land in ``unchanged`` and no sink restarts for them.

The function is pure: same inputs, same ``Plan``; names come out sorted so logs
and tests are stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.specification.model import SinkDefinition


@dataclass(frozen=True)
class Change:
    """One sink whose canonical settings differ between the two sides."""

    name: str
    old: SinkDefinition
    new: SinkDefinition


@dataclass(frozen=True)
class Plan:
    added: tuple[SinkDefinition, ...] = ()
    removed: tuple[SinkDefinition, ...] = ()
    changed: tuple[Change, ...] = ()
    unchanged: tuple[SinkDefinition, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing has to be stopped or started."""
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """``+added ~changed -removed =unchanged`` with the names, for one log line."""
        parts = [
            _names("+", [d.name for d in self.added]),
            _names("~", [c.name for c in self.changed]),
            _names("-", [d.name for d in self.removed]),
        ]
        body = " ".join(p for p in parts if p)
        unchanged = f"={len(self.unchanged)} unchanged"
        return f"{body} {unchanged}" if body else unchanged


def _names(sign: str, names: list[str]) -> str:
    return f"{sign}{','.join(names)}" if names else ""


def plan(current: Mapping[str, SinkDefinition], desired: Mapping[str, SinkDefinition]) -> Plan:
    """Sort every name of either side into added / removed / changed / unchanged."""
    added: list[SinkDefinition] = []
    removed: list[SinkDefinition] = []
    changed: list[Change] = []
    unchanged: list[SinkDefinition] = []
    for name in sorted(set(current) | set(desired)):
        old = current.get(name)
        new = desired.get(name)
        if old is None and new is not None:
            added.append(new)
        elif new is None and old is not None:
            removed.append(old)
        elif old is not None and new is not None:
            if old.digest == new.digest:
                # keep the newer definition: its source file and locations may have moved
                unchanged.append(new)
            else:
                changed.append(Change(name, old, new))
    return Plan(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))
