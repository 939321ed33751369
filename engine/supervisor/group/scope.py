"""The part of the desired sinks that this member runs.

``OwnedScope`` sits between the config source and the supervisor in cluster mode:
the config source says which sinks should exist (every member loads the same
files), the group says which of them are this member's, and the supervisor is
handed the intersection, through the same ``apply(desired)`` a standalone engine
uses for every reload. Nothing else about a sink changes.

Guarantees:

* A sink runs here only while this member owns it: ``released`` applies the
  desired set without those sinks and returns once the supervisor stopped them
  (flush, final checkpoint), which is what the group waits for before it gives
  them to another member.
* File reloads and ownership changes are applied one at a time, each against the
  latest desired set and the latest ownership, so neither can undo the other.
* Disabled sinks are passed through on every member (they run nowhere, so every
  member shows them); they get no control topic and are never owned.
* Every enabled sink gets its control topic as soon as a member's files define it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from engine.specification.model import SinkDefinition
from engine.supervisor.group.membership import Membership, ReleaseReason
from engine.supervisor.results import Applied

SupervisorApply = Callable[[Mapping[str, SinkDefinition]], Applied]


class OwnedScope:
    def __init__(self, supervisor_apply: SupervisorApply) -> None:
        self._supervisor_apply = supervisor_apply
        self._lock = threading.RLock()
        self._desired: dict[str, SinkDefinition] = {}
        self._membership: Membership | None = None

    def attach(self, membership: Membership) -> None:
        self._membership = membership

    @property
    def desired(self) -> Mapping[str, SinkDefinition]:
        return dict(self._desired)

    def apply(self, desired: Mapping[str, SinkDefinition]) -> Applied:
        """The files changed: record what should exist, create topics, re-apply."""
        with self._lock:
            self._desired = dict(desired)
            if self._membership is not None:
                self._membership.want(n for n, d in self._desired.items() if d.enabled)
            return self._supervisor_apply(self.local())

    def local(self, exclude: frozenset[str] = frozenset()) -> dict[str, SinkDefinition]:
        """The desired sinks this member should run now (plus the disabled ones)."""
        owned = self._membership.owned() if self._membership is not None else frozenset()
        owned = owned - exclude
        return {n: d for n, d in self._desired.items() if not d.enabled or n in owned}

    # -- OwnershipListener (called on the membership thread) --------------------------

    def acquired(self, sinks: frozenset[str]) -> None:
        with self._lock:
            self._supervisor_apply(self.local())

    def released(self, sinks: frozenset[str], reason: ReleaseReason) -> None:
        del reason  # logged by the membership; stopping is the same for every reason
        with self._lock:
            self._supervisor_apply(self.local(exclude=sinks))
