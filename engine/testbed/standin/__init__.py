"""KurrentDB-protocol stand-in: test and sandbox support, not a database.

A gRPC server built from the protocol modules the client library ships (esdbclient's or
kurrentdbclient's, see ``protos.py``), over an event log kept in memory (optionally
journalled to a directory), that the unmodified client uses as it would use KurrentDB.
:class:`StandIn` runs in this process (fast tests); :class:`StandInProcess` runs
``python -m engine.testbed.standin`` in its own process (benchmarks, fault tests). Both
serve either over the h2 library (default, fast streaming) or over grpcio's own server.
See ``server.py`` and ``process.py`` for the guarantees.
"""

from engine.testbed.standin.process import StandInProcess
from engine.testbed.standin.server import StandIn

__all__ = ["StandIn", "StandInProcess"]
