"""``Streams.Append`` and ``Streams.BatchAppend`` of the stand-in.

Both check the expected version (any, no stream, stream exists, exact revision) atomically
with the write. A wrong expected version is answered the way KurrentDB answers it, which
esdbclient turns into ``WrongCurrentVersion``: in ``AppendResp.wrong_expected_version`` for
Append, in an error ``Status`` carrying a packed ``WrongExpectedVersion`` for BatchAppend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2

from engine.testbed.standin.frames import Proposed
from engine.testbed.standin.log import AppendOutcome, EventLog, Expected, ExpectedKind
from engine.testbed.standin.protos import code_pb2, shared_pb2, status_pb2, streams_pb2

_Message = streams_pb2.AppendReq.ProposedMessage | streams_pb2.BatchAppendReq.ProposedMessage


def _proposed(messages: Iterable[_Message]) -> list[Proposed]:
    return [
        Proposed(
            event_id=m.id.string,
            event_type=m.metadata["type"],
            content_type=m.metadata["content-type"],
            custom_metadata=m.custom_metadata,
            data=m.data,
        )
        for m in messages
    ]


def _expected(which: str | None, revision: int) -> Expected:
    if which in ("revision", "stream_position"):
        return Expected(ExpectedKind.REVISION, revision)
    if which == "no_stream":
        return Expected(ExpectedKind.NO_STREAM)
    if which == "stream_exists":
        return Expected(ExpectedKind.STREAM_EXISTS)
    return Expected(ExpectedKind.ANY)


class AppendHandler:
    def __init__(self, log: EventLog) -> None:
        self._log = log

    def append(
        self, requests: Iterator[streams_pb2.AppendReq], context: grpc.ServicerContext
    ) -> streams_pb2.AppendResp:
        first = next(requests, None)
        if first is None or first.WhichOneof("content") != "options":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be options")
            raise AssertionError("abort returns only by raising")
        options = first.options
        expected = _expected(options.WhichOneof("expected_stream_revision"), options.revision)
        stream = options.stream_identifier.stream_name.decode("utf8")
        events = _proposed(r.proposed_message for r in requests)
        outcome = self._log.append(stream, expected, events)
        if outcome.ok:
            return _append_success(outcome)
        return _append_wrong_version(outcome, expected)

    def batch_append(
        self, requests: Iterator[streams_pb2.BatchAppendReq], context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.BatchAppendResp]:
        # A batch may arrive in several requests sharing a correlation id; only the one
        # marked final carries the options that matter and closes the transaction.
        pending: dict[str, tuple[streams_pb2.BatchAppendReq.Options, list[Proposed]]] = {}
        for request in requests:
            key = request.correlation_id.string
            if key not in pending:
                pending[key] = (request.options, [])
            pending[key][1].extend(_proposed(request.proposed_messages))
            if not request.is_final:
                continue
            options, events = pending.pop(key)
            yield self._batch(request.correlation_id, options, events)

    def _batch(
        self,
        correlation_id: shared_pb2.UUID,
        options: streams_pb2.BatchAppendReq.Options,
        events: Sequence[Proposed],
    ) -> streams_pb2.BatchAppendResp:
        which = options.WhichOneof("expected_stream_position")
        expected = _expected(which, options.stream_position)
        stream = options.stream_identifier.stream_name.decode("utf8")
        outcome = self._log.append(stream, expected, events)
        response = streams_pb2.BatchAppendResp(
            correlation_id=correlation_id, stream_identifier=options.stream_identifier
        )
        if outcome.ok:
            _fill_success(response.success, outcome, empty_pb2.Empty)
            return response
        wrong = shared_pb2.WrongExpectedVersion()
        if outcome.current_revision is None:
            wrong.current_no_stream.CopyFrom(empty_pb2.Empty())
        else:
            wrong.current_stream_revision = outcome.current_revision
        if expected.kind is ExpectedKind.REVISION:
            wrong.expected_stream_position = expected.revision
        elif expected.kind is ExpectedKind.NO_STREAM:
            wrong.expected_no_stream.CopyFrom(empty_pb2.Empty())
        else:
            wrong.expected_stream_exists.CopyFrom(empty_pb2.Empty())
        details = any_pb2.Any()
        details.Pack(wrong)
        response.error.CopyFrom(
            status_pb2.Status(
                code=code_pb2.FAILED_PRECONDITION,
                message="wrong expected version",
                details=details,
            )
        )
        return response


def _fill_success(success: Any, outcome: AppendOutcome, empty: type[Any]) -> None:
    """Fill the ``Success`` of AppendResp or BatchAppendResp (same fields, but the two
    messages use different ``Empty`` types)."""
    if outcome.current_revision is None:
        success.no_stream.CopyFrom(empty())
    else:
        success.current_revision = outcome.current_revision
    if outcome.position:
        success.position.commit_position = outcome.position
        success.position.prepare_position = outcome.position
    else:
        success.no_position.CopyFrom(empty())


def _append_success(outcome: AppendOutcome) -> streams_pb2.AppendResp:
    response = streams_pb2.AppendResp()
    _fill_success(response.success, outcome, shared_pb2.Empty)
    return response


def _append_wrong_version(outcome: AppendOutcome, expected: Expected) -> streams_pb2.AppendResp:
    response = streams_pb2.AppendResp()
    wrong = response.wrong_expected_version
    if outcome.current_revision is None:
        wrong.current_no_stream.CopyFrom(shared_pb2.Empty())
    else:
        wrong.current_revision = outcome.current_revision
    if expected.kind is ExpectedKind.REVISION:
        wrong.expected_revision = expected.revision
    elif expected.kind is ExpectedKind.NO_STREAM:
        wrong.expected_no_stream.CopyFrom(shared_pb2.Empty())
    else:
        wrong.expected_stream_exists.CopyFrom(shared_pb2.Empty())
    return response
