"""Free TCP ports for the tests: the engine's own helper, so there is one way to get one.

A port is free when asked for; nothing holds it afterwards, so use it soon (the tests
give it to a process they start next, as ``sinks run --status-addr``).
"""

from __future__ import annotations

from engine.supervisor.group.processes import free_port as _free_port

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on at ``host`` right now."""
    return _free_port(host)
