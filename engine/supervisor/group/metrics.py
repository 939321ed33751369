"""Prometheus metrics of one member's seat in the group (read when scraped)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.supervisor.group.membership import Membership


class GroupCollector(Collector):
    def __init__(self, membership: Membership) -> None:
        self._membership = membership

    def collect(self) -> Iterator[Metric]:
        stats = self._membership.stats()
        labels = ["group"]
        rebalances = CounterMetricFamily(
            "sinks_group_rebalances",
            "Assignment changes this member took part in (assigned, revoked or lost).",
            labels=labels,
        )
        rebalances.add_metric([stats.group], stats.rebalances)
        owned = GaugeMetricFamily(
            "sinks_group_sinks_owned", "Sinks the group assigns to this member.", labels=labels
        )
        owned.add_metric([stats.group], len(stats.owned))
        lost = CounterMetricFamily(
            "sinks_group_lost",
            "Times this member stopped its sinks because the group moved on without it "
            "(session expired, cluster out of reach).",
            labels=labels,
        )
        lost.add_metric([stats.group], stats.lost)
        fenced = CounterMetricFamily(
            "sinks_group_fenced",
            "Sinks stopped because a newer owner fenced this member's producer.",
            labels=labels,
        )
        fenced.add_metric([stats.group], stats.fenced)
        lease = GaugeMetricFamily(
            "sinks_group_lease_valid",
            "1 while the broker has recently confirmed this member's place in the group.",
            labels=labels,
        )
        lease.add_metric([stats.group], 1 if stats.lease_valid else 0)
        yield from (rebalances, owned, lost, fenced, lease)
