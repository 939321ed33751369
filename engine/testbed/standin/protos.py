"""The KurrentDB protocol modules the stand-in serves, from the installed client library.

esdbclient and kurrentdbclient ship the same v1 protocol (same packages, messages and
field numbers; kurrentdbclient's adds optional fields the stand-in does not send), so
the stand-in serves either client from either library's modules. It takes them from
the library the adapter uses (``engine.adapters.kurrentdb_library``): both libraries
register the same proto names, so only one set may be loaded in a process.
"""

from __future__ import annotations

from engine.adapters.kurrentdb_library import chosen_library

if chosen_library() == "esdbclient":
    from esdbclient.protos.Grpc import code_pb2, gossip_pb2, shared_pb2, status_pb2, streams_pb2
else:
    from kurrentdbclient.protos.google.rpc import code_pb2  # type: ignore[no-redef]
    from kurrentdbclient.protos.v1 import (  # type: ignore[no-redef]
        gossip_pb2,
        shared_pb2,
        status_pb2,
        streams_pb2,
    )

__all__ = ["code_pb2", "gossip_pb2", "shared_pb2", "status_pb2", "streams_pb2"]
