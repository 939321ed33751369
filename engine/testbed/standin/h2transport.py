"""HTTP/2 transport of the stand-in: gRPC over h2 on one asyncio loop (test support only).

Why it exists: grpcio's Python server spends tens of microseconds of CPU per streamed
message (one completion-queue round trip and thread hand-off each), more than half of what
esdbclient spends reading it, so a measurement through it would measure the stand-in. gRPC
messages are only length-prefixed bytes inside HTTP/2 DATA frames, so this transport packs
many ready-made event frames into each DATA frame: per event it adds a 5-byte prefix.

Guarantees: the same RPCs and semantics as the grpcio transport (it runs the same handlers);
HTTP/2 flow control is honoured in both directions; request messages up to
``MAX_MESSAGE_BYTES`` are accepted; a stopped server aborts its connections (no GOAWAY, so
clients fail fast and reconnect); everything runs on one thread, the loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from engine.testbed.standin.appending import AppendHandler
from engine.testbed.standin.protos import gossip_pb2, shared_pb2, streams_pb2
from engine.testbed.standin.reading import ReadHandler, SubscriptionDropped

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_PREFIX = struct.Struct(">BI")
# Bytes of event frames gathered before a write; large enough to amortise h2's per-frame
# work, small enough to keep latency low for live events.
_BATCH_BYTES = 256 * 1024
_IDLE_WAKE_S = 0.5
_OK, _UNAVAILABLE, _UNIMPLEMENTED, _INTERNAL, _RESOURCE_EXHAUSTED = 0, 14, 12, 13, 8
_READ = "/event_store.client.streams.Streams/Read"
_APPEND = "/event_store.client.streams.Streams/Append"
_BATCH_APPEND = "/event_store.client.streams.Streams/BatchAppend"
_GOSSIP = "/event_store.client.gossip.Gossip/Read"


class _Aborted(Exception):
    """A handler refused a request (the grpcio ``context.abort`` equivalent)."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code


class _Context:
    """The bits of ``grpc.ServicerContext`` the append handlers use."""

    def abort(self, code: Any, details: str) -> None:
        raise _Aborted(int(code.value[0]), details)


class H2Server:
    """Serves the stand-in's RPCs on ``host:port`` from a private event loop thread."""

    def __init__(
        self,
        host: str,
        port: int,
        reads: ReadHandler,
        appends: AppendHandler,
        gossip: Callable[[], gossip_pb2.ClusterInfo],
    ) -> None:
        self._host = host
        self._port = port
        self.reads = reads
        self.appends = appends
        self.gossip = gossip
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.connections: set[_Connection] = set()
        self._appended = asyncio.Event()

    def start(self) -> int:
        """Listen and serve; returns the bound port."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    self._loop.create_server(
                        lambda: _Connection(self), self._host, self._port, reuse_address=True
                    )
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="standin-h2", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self._port

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self.connections):
                connection.abort()
            if self._server is not None:
                await self._server.wait_closed()

        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop.close()

    def notify(self) -> None:
        """Wake idle subscriptions (after an append or a drop); callable from any thread."""
        if self._thread is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self._appended = self._appended, asyncio.Event()
        event.set()

    async def wait_for_change(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), _IDLE_WAKE_S)


class _Call:
    def __init__(self, path: str) -> None:
        self.path = path
        self.body = bytearray()
        self.task: asyncio.Task[None] | None = None


class _Connection(asyncio.Protocol):
    def __init__(self, server: H2Server) -> None:
        self._server = server
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        self._transport: asyncio.Transport | None = None
        self._calls: dict[int, _Call] = {}
        self._window_open = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        # Large receive windows so whole batch appends flow without per-chunk round trips.
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 16 * 1024 * 1024,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(64 * 1024 * 1024)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        for call in self._calls.values():
            if call.task is not None:
                call.task.cancel()
        self._calls.clear()
        self._window_open.set()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            self.abort()
            return
        for event in events:
            self._on_event(event)
        self._flush()

    # -- HTTP/2 events ---------------------------------------------------------------------
    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            # header_encoding is set, so names and values arrive as str.
            headers: dict[Any, Any] = dict(event.headers or [])
            self._calls[event.stream_id] = _Call(str(headers.get(":path", "")))
        elif isinstance(event, h2.events.DataReceived):
            call = self._calls.get(event.stream_id)
            if event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if call is not None and event.data:
                call.body += event.data
                if len(call.body) > MAX_MESSAGE_BYTES + _PREFIX.size:
                    self._finish(event.stream_id, _RESOURCE_EXHAUSTED, "message too large")
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call.task = asyncio.ensure_future(self._dispatch(event.stream_id, call))
        elif isinstance(event, h2.events.StreamReset):
            call = self._calls.pop(event.stream_id, None)
            if call is not None and call.task is not None:
                call.task.cancel()
        elif isinstance(event, h2.events.WindowUpdated):
            self._window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.abort()

    # -- calls -----------------------------------------------------------------------------
    async def _dispatch(self, stream_id: int, call: _Call) -> None:
        try:
            messages = list(_messages(bytes(call.body)))
            if call.path == _READ:
                await self._serve_read(stream_id, streams_pb2.ReadReq.FromString(messages[0]))
                return
            if call.path == _APPEND:
                requests = (streams_pb2.AppendReq.FromString(m) for m in messages)
                reply = self._server.appends.append(requests, _Context())  # type: ignore[arg-type]
                replies = [reply.SerializeToString()]
            elif call.path == _BATCH_APPEND:
                batches = (streams_pb2.BatchAppendReq.FromString(m) for m in messages)
                answers = self._server.appends.batch_append(batches, _Context())  # type: ignore[arg-type]
                replies = [r.SerializeToString() for r in answers]
            elif call.path == _GOSSIP:
                replies = [self._server.gossip().SerializeToString()]
            else:
                self._finish(stream_id, _UNIMPLEMENTED, f"{call.path} is not implemented")
                return
            self._start(stream_id)
            await self._send(stream_id, b"".join(_PREFIX.pack(0, len(r)) + r for r in replies))
            self._finish(stream_id, _OK, "")
        except asyncio.CancelledError:
            raise
        except _Aborted as exc:
            self._finish(stream_id, exc.code, str(exc))
        except Exception as exc:  # reported to the client like an unhandled handler error
            self._finish(stream_id, _INTERNAL, f"Exception was thrown by handler: {exc!r}")

    async def _serve_read(self, stream_id: int, request: streams_pb2.ReadReq) -> None:
        frames: Iterator[bytes | None] = self._server.reads.open(request)
        self._start(stream_id)
        pack = _PREFIX.pack
        batch: list[bytes] = []
        size = 0
        try:
            for frame in frames:
                if frame is None:
                    if batch:
                        await self._send(stream_id, b"".join(batch))
                        batch, size = [], 0
                    await self._server.wait_for_change()
                    continue
                batch.append(pack(0, len(frame)))
                batch.append(frame)
                size += len(frame)
                if size >= _BATCH_BYTES:
                    await self._send(stream_id, b"".join(batch))
                    batch, size = [], 0
        except SubscriptionDropped:
            if batch:
                await self._send(stream_id, b"".join(batch))
            self._finish(stream_id, _UNAVAILABLE, "subscription dropped by the server")
            return
        if batch:
            await self._send(stream_id, b"".join(batch))
        self._finish(stream_id, _OK, "")

    # -- writing ---------------------------------------------------------------------------
    def _start(self, stream_id: int) -> None:
        self._h2.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
        self._flush()

    async def _send(self, stream_id: int, payload: bytes) -> None:
        view = memoryview(payload)
        offset = 0
        while offset < len(view):
            if stream_id not in self._calls or self._transport is None:
                raise asyncio.CancelledError
            window = self._h2.local_flow_control_window(stream_id)
            if window <= 0:
                self._window_open.clear()
                await self._window_open.wait()
                continue
            chunk = min(window, self._h2.max_outbound_frame_size, len(view) - offset)
            self._h2.send_data(stream_id, bytes(view[offset : offset + chunk]))
            offset += chunk
            self._flush()
            if not self._writable.is_set():
                await self._writable.wait()

    def _finish(self, stream_id: int, code: int, message: str) -> None:
        call = self._calls.pop(stream_id, None)
        if call is None or self._transport is None or self._transport.is_closing():
            return
        state = self._h2.streams.get(stream_id)
        trailers = [("grpc-status", str(code))]
        if message:
            trailers.append(("grpc-message", message))
        try:
            if state is not None and not state.state_machine.headers_sent:
                # Trailers-only reply: status in the one HEADERS frame.
                self._h2.send_headers(
                    stream_id,
                    [(":status", "200"), ("content-type", "application/grpc"), *trailers],
                    end_stream=True,
                )
            else:
                self._h2.send_headers(stream_id, trailers, end_stream=True)
        except h2.exceptions.H2Error:
            return
        self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


def _messages(body: bytes) -> Iterator[bytes]:
    offset = 0
    while offset + _PREFIX.size <= len(body):
        compressed, length = _PREFIX.unpack_from(body, offset)
        if compressed:
            raise _Aborted(_UNIMPLEMENTED, "compressed messages are not supported")
        start = offset + _PREFIX.size
        yield body[start : start + length]
        offset = start + length


def cluster_info(host: str, port: int, instance_id: str, ticks: int) -> gossip_pb2.ClusterInfo:
    member = gossip_pb2.MemberInfo(
        instance_id=shared_pb2.UUID(string=instance_id),
        time_stamp=ticks,
        state=gossip_pb2.MemberInfo.VNodeState.Leader,
        is_alive=True,
        http_end_point=gossip_pb2.EndPoint(address=host, port=port),
    )
    return gossip_pb2.ClusterInfo(members=[member])
