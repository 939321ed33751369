"""How a member reaches the Kafka cluster that coordinates its group.

The coordination cluster is often the cluster the sinks write to, but need not be;
it takes the same authentication options a sink has. ``ClusterConnection`` is a
plain value: the Kafka adapter turns it into client configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.specification.settings import Authentication


# The authentication fields, and their defaults, are a sink's own (``Authentication``);
# keyword-only because they come first and have defaults, ``bootstrap`` has none.
@dataclass(frozen=True, kw_only=True)
class ClusterConnection(Authentication):
    bootstrap: str
    # A member that stops heartbeating is replaced after this long (Kafka's
    # session.timeout.ms). The broker's own default is 45 s; failover within 15 s
    # needs less. The broker bounds it (group.min/max.session.timeout.ms).
    session_timeout_ms: int = 10_000

    @property
    def heartbeat_interval_ms(self) -> int:
        # A third of the session is Kafka's rule of thumb; a fifth leaves room for a
        # lost heartbeat or two on a busy machine.
        return max(200, self.session_timeout_ms // 5)

    def describe(self) -> str:
        return f"{self.bootstrap} ({self.security_protocol.value})"
