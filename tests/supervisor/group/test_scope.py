from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from engine.specification.model import SinkDefinition
from engine.supervisor.group.membership import Membership, ReleaseReason
from engine.supervisor.group.scope import OwnedScope
from engine.supervisor.plan import plan
from engine.supervisor.results import Applied


class FakeMembership:
    def __init__(self) -> None:
        self.owned_now: frozenset[str] = frozenset()
        self.wanted: list[set[str]] = []

    def owned(self) -> frozenset[str]:
        return self.owned_now

    def want(self, sinks: Iterable[str]) -> None:
        self.wanted.append(set(sinks))


def definition(name: str, enabled: bool = True) -> SinkDefinition:
    return SinkDefinition.from_canonical(name, {"topic": name}, enabled=enabled)


def make() -> tuple[OwnedScope, FakeMembership, list[set[str]]]:
    applied: list[set[str]] = []

    def apply(desired: Mapping[str, SinkDefinition]) -> Applied:
        applied.append(set(desired))
        return Applied(plan({}, {}))

    scope = OwnedScope(apply)
    membership = FakeMembership()
    scope.attach(cast(Membership, membership))
    return scope, membership, applied


def test_only_owned_sinks_reach_the_supervisor_and_disabled_ones_pass_through() -> None:
    scope, membership, applied = make()
    membership.owned_now = frozenset({"a"})
    scope.apply({n.name: n for n in (definition("a"), definition("b"), definition("off", False))})
    assert applied[-1] == {"a", "off"}
    assert membership.wanted[-1] == {"a", "b"}  # control topics only for enabled sinks


def test_acquiring_starts_and_releasing_stops_before_the_callback_returns() -> None:
    scope, membership, applied = make()
    scope.apply({"a": definition("a"), "b": definition("b")})
    assert applied[-1] == set()

    membership.owned_now = frozenset({"a", "b"})
    scope.acquired(frozenset({"b"}))
    assert applied[-1] == {"a", "b"}

    # The membership still lists "b" as owned while the revoke callback runs.
    scope.released(frozenset({"b"}), ReleaseReason.REBALANCE)
    assert applied[-1] == {"a"}
