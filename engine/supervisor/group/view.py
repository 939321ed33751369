"""What one member shows of the whole group: every sink, and who runs it.

``GroupView`` is the status server's source in cluster mode. It lists this
member's own sinks as the supervisor sees them, plus every other enabled sink of
the files as ``REMOTE`` (with the member that owns it) or ``UNASSIGNED`` (no member
owns it yet, e.g. during a rebalance or while its control topic is being made).

The owners come from the group coordinator (``describe_group``), read in the
background every ``interval`` seconds, never per request.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import replace
from typing import Any

from engine.adapters.kafka.group import GroupMemberInfo, host_name
from engine.specification.naming import member_of_client_id
from engine.supervisor.group.membership import Membership
from engine.supervisor.group.scope import OwnedScope
from engine.supervisor.reload import Reloader
from engine.supervisor.results import ReloadResult, SinkView, guarantee_of


class ElsewhereState(enum.Enum):
    REMOTE = "REMOTE"  # another member runs it
    UNASSIGNED = "UNASSIGNED"  # no member owns it right now


def owner_of(member: GroupMemberInfo, group: str) -> dict[str, Any]:
    """Member id, host and pid of a member, the last two read from its client id."""
    host, pid = member_of_client_id(group, member.client_id)
    return {
        "member_id": member.member_id,
        "host": host or member.host,
        "address": member.host.lstrip("/"),
        "pid": pid,
    }


class GroupView:
    def __init__(
        self,
        reloader: Reloader,
        scope: OwnedScope,
        membership: Membership,
        *,
        interval: float = 2.0,
    ) -> None:
        self._reloader = reloader
        self._scope = scope
        self._membership = membership
        self._interval = interval
        self._owners: dict[str, GroupMemberInfo] = {}
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the background read of the coordinator ----------------------------------------

    def refresh(self) -> None:
        try:
            self._owners = self._membership.group_view(timeout=self._interval * 2)
            self._error = None
        except Exception as exc:  # the coordinator away: keep the last view, say why
            self._error = str(exc)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self._interval)

        self._thread = threading.Thread(target=loop, name="group-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- SinkSource ---------------------------------------------------------------------

    @property
    def last_reload(self) -> ReloadResult | None:
        return self._reloader.last_reload

    def me(self) -> dict[str, Any]:
        stats = self._membership.stats()
        return {"member_id": stats.member_id, "host": host_name(), "pid": os.getpid()}

    def views(self) -> list[SinkView]:
        group = self._membership.group
        me = self.me()
        local = self._reloader.views()
        views = [replace(v, owner=me) for v in local]
        shown = {v.name for v in local}
        for name, definition in sorted(self._scope.desired.items()):
            if name in shown or not definition.enabled:
                continue
            member = self._owners.get(name)
            state = ElsewhereState.REMOTE if member is not None else ElsewhereState.UNASSIGNED
            views.append(
                SinkView(
                    name=name,
                    state=state.value,
                    reason=None,
                    digest=definition.digest,
                    source_file=definition.source_file,
                    enabled=True,
                    owner=owner_of(member, group) if member is not None else None,
                    local=False,
                    guarantee=guarantee_of(definition),
                )
            )
        return views

    def group_json(self) -> dict[str, Any]:
        stats = self._membership.stats()
        members = {m.member_id: m for m in self._owners.values()}
        return {
            "name": stats.group,
            "member": self.me(),
            "generation": stats.generation,
            "rebalances": stats.rebalances,
            "sinks_owned": len(stats.owned),
            "lost": stats.lost,
            "lease_valid": stats.lease_valid,
            "last_error": stats.last_error,
            "members": sorted(
                ({**owner_of(m, stats.group), "sinks": len(m.topics)} for m in members.values()),
                key=lambda o: str(o["member_id"]),
            ),
            "view_error": self._error,
        }
