"""In-process KurrentDB-protocol stand-in: a gRPC server over an :class:`EventLog`.

Test and sandbox support only: it speaks the subset of KurrentDB's gRPC protocol that
esdbclient uses (``Streams.Read``, ``Streams.Append``, ``Streams.BatchAppend``,
``Gossip.Read``) over an in-memory log, so the unmodified client can be driven in tests.
It is not a database: no durability guarantees beyond the optional journal, no security.

Two transports serve the same handlers: ``Transport.H2`` (default; gRPC framing over the
h2 library on one asyncio loop, packing many event frames per HTTP/2 DATA frame) and
``Transport.GRPCIO`` (grpcio's server, Read registered with no response serialiser so the
stored frames go out untouched). See ``h2transport.py`` for why the default is not grpcio.

Guarantees:
- ``restart()`` serves again on the same port with the same log (in memory, or reloaded
  from ``data_dir`` when one is given);
- ``drop_subscriptions()`` ends every open subscription with UNAVAILABLE (esdbclient raises
  ``ServiceUnavailable`` while iterating); ``refuse_connections(s)`` stops serving and
  serves again on the same port ``s`` seconds later, without blocking the caller;
- messages up to 64 MiB are accepted (whole batch appends travel as one message).
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from engine.testbed.standin.address import LoopbackAddress
from engine.testbed.standin.appending import AppendHandler
from engine.testbed.standin.h2transport import H2Server, cluster_info
from engine.testbed.standin.log import EventLog
from engine.testbed.standin.protos import gossip_pb2, shared_pb2, streams_pb2
from engine.testbed.standin.reading import ReadHandler, SubscriptionControl

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
JOURNAL_NAME = "events.journal"
_STREAMS = "event_store.client.streams.Streams"
_GOSSIP = "event_store.client.gossip.Gossip"


class Transport(enum.Enum):
    """How RPCs reach the handlers; both serve the same protocol and semantics."""

    # gRPC over the h2 library on an asyncio loop: many event frames per DATA frame.
    H2 = "h2"
    # grpcio's own server with generic handlers (identity response serialiser for Read).
    GRPCIO = "grpcio"


class StandIn(LoopbackAddress):
    """A KurrentDB-protocol gRPC server in this process, for tests and sandboxes."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        max_workers: int = 128,
        transport: Transport | str = Transport.H2,
    ) -> None:
        self.transport = Transport(transport)
        self.host = host
        self._port = port
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._max_workers = max_workers
        self._log: EventLog | None = None
        self._server: grpc.Server | H2Server | None = None
        self._control = SubscriptionControl()
        self._lock = threading.RLock()
        self._reopen: threading.Timer | None = None
        self._instance_id = str(uuid.uuid4())

    @property
    def log(self) -> EventLog:
        if self._log is None:
            raise RuntimeError("the stand-in has not been started")
        return self._log

    @property
    def serving(self) -> bool:
        return self._server is not None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            if self._log is None:
                self._log = self._open_log()
            if self.transport is Transport.H2:
                self._server = self._start_h2(self._log)
                return
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=self._max_workers),
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    # One server per port: a stale twin must not share it silently.
                    ("grpc.so_reuseport", 0),
                ],
            )
            server.add_generic_rpc_handlers(self._handlers(self._log))
            bound = server.add_insecure_port(f"{self.host}:{self._port}")
            if bound == 0:
                raise OSError(f"cannot listen on {self.host}:{self._port}")
            self._port = bound
            server.start()
            self._server = server

    def stop(self, grace: float = 0.5) -> None:
        with self._lock:
            if self._reopen is not None:
                self._reopen.cancel()
                self._reopen = None
            self._shutdown(grace)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop serving and release the journal; the object cannot be started again."""
        self.stop()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fault hooks -----------------------------------------------------------------------
    def drop_subscriptions(self) -> None:
        """End every open subscription with UNAVAILABLE; new ones are accepted as usual."""
        self._control.drop_all()
        if self._log is not None:
            self._log.wake_readers()
        server = self._server
        if isinstance(server, H2Server):
            server.notify()

    def refuse_connections(self, seconds: float) -> None:
        """Stop serving now and serve again on the same port after ``seconds``."""
        with self._lock:
            self._shutdown(grace=0.2)
            if self._reopen is not None:
                self._reopen.cancel()
            self._reopen = threading.Timer(seconds, self._reopen_now)
            self._reopen.daemon = True
            self._reopen.start()

    def wait_serving(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None:
                return True
            time.sleep(0.02)
        return self._server is not None

    # -- internals -------------------------------------------------------------------------
    def _reopen_now(self) -> None:
        with self._lock:
            self._reopen = None
            self.start()

    def _shutdown(self, grace: float) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # Subscriptions end with UNAVAILABLE first, so clients see the same error as when
        # a real node goes away rather than a bare cancellation.
        self._control.drop_all()
        if self._log is not None:
            self._log.wake_readers()
        if isinstance(server, H2Server):
            server.notify()
            time.sleep(min(grace, 0.1))
            if self._log is not None:
                self._log.remove_listener(server.notify)
            server.stop()
            return
        server.stop(grace).wait()

    def _open_log(self) -> EventLog:
        if self._data_dir is None:
            return EventLog()
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return EventLog.load(self._data_dir / JOURNAL_NAME)

    def _start_h2(self, log: EventLog) -> H2Server:
        server = H2Server(
            self.host,
            self._port,
            ReadHandler(log, self._control),
            AppendHandler(log),
            lambda: cluster_info(self.host, self._port, self._instance_id, time.time_ns() // 100),
        )
        self._port = server.start()
        log.add_listener(server.notify)
        return server

    def _handlers(self, log: EventLog) -> tuple[grpc.GenericRpcHandler, ...]:
        appends = AppendHandler(log)
        streams = grpc.method_handlers_generic_handler(
            _STREAMS,
            {
                # No response serialiser: the handler yields ready-made frames.
                "Read": grpc.unary_stream_rpc_method_handler(
                    ReadHandler(log, self._control),
                    request_deserializer=streams_pb2.ReadReq.FromString,
                ),
                "Append": grpc.stream_unary_rpc_method_handler(
                    appends.append,
                    request_deserializer=streams_pb2.AppendReq.FromString,
                    response_serializer=streams_pb2.AppendResp.SerializeToString,
                ),
                "BatchAppend": grpc.stream_stream_rpc_method_handler(
                    appends.batch_append,
                    request_deserializer=streams_pb2.BatchAppendReq.FromString,
                    response_serializer=streams_pb2.BatchAppendResp.SerializeToString,
                ),
            },
        )
        gossip = grpc.method_handlers_generic_handler(
            _GOSSIP,
            {
                "Read": grpc.unary_unary_rpc_method_handler(
                    self._gossip,
                    request_deserializer=shared_pb2.Empty.FromString,
                    response_serializer=gossip_pb2.ClusterInfo.SerializeToString,
                )
            },
        )
        return (streams, gossip)

    def _gossip(self, request: Any, context: grpc.ServicerContext) -> gossip_pb2.ClusterInfo:
        return cluster_info(self.host, self._port, self._instance_id, time.time_ns() // 100)
