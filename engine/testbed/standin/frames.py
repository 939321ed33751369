"""Wire frames of the KurrentDB-protocol stand-in (test and sandbox support only).

Every recorded event is turned into its serialised ``ReadResp`` exactly once, when it is
appended. Stream reads, ``$all`` reads and subscriptions all send those same bytes: the
message carries no per-read field (subscription ids only travel in the confirmation), so
the read path never builds or serialises a protobuf message per event.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.testbed.standin.protos import shared_pb2, streams_pb2

_ReadEvent = streams_pb2.ReadResp.ReadEvent
_Recorded = streams_pb2.ReadResp.ReadEvent.RecordedEvent


# Replies without per-event content never change; build them once.
def _wire(message: streams_pb2.ReadResp) -> bytes:
    data: bytes = message.SerializeToString()
    return data


CAUGHT_UP: bytes = _wire(streams_pb2.ReadResp(caught_up=streams_pb2.ReadResp.CaughtUp()))


@dataclass(frozen=True)
class Proposed:
    """One event as a client proposed it (an append request's message)."""

    event_id: str
    event_type: str
    content_type: str
    custom_metadata: bytes
    data: bytes


@dataclass(frozen=True)
class Recorded:
    """What the log keeps for one event: its identity in the log and its wire frame."""

    stream: str
    revision: int
    position: int
    event_type: str
    frame: bytes


def event_frame(
    proposed: Proposed, stream: str, revision: int, position: int, created_ticks: int
) -> bytes:
    """The serialised ``ReadResp`` for one recorded event.

    ``id.string`` (not the structured form) is set because esdbclient drops events whose
    string id is empty; ``created`` is in 100 ns ticks since 1970, which esdbclient turns
    into ``RecordedEvent.recorded_at``. Commit and prepare positions are equal: every
    append is an implicit transaction whose events each get their own log position.
    """
    recorded = _Recorded(
        id=shared_pb2.UUID(string=proposed.event_id),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode("utf8")),
        stream_revision=revision,
        prepare_position=position,
        commit_position=position,
        metadata={
            "type": proposed.event_type,
            "content-type": proposed.content_type,
            "created": str(created_ticks),
        },
        custom_metadata=proposed.custom_metadata,
        data=proposed.data,
    )
    read_event = _ReadEvent(event=recorded, commit_position=position)
    return _wire(streams_pb2.ReadResp(event=read_event))


def parse_event_frame(frame: bytes) -> Recorded:
    """Inverse of :func:`event_frame` for the fields the log indexes (used on reload)."""
    event = streams_pb2.ReadResp.FromString(frame).event.event
    return Recorded(
        stream=event.stream_identifier.stream_name.decode("utf8"),
        revision=event.stream_revision,
        position=event.commit_position,
        event_type=event.metadata["type"],
        frame=frame,
    )


def confirmation_frame(subscription_id: str) -> bytes:
    confirmation = streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id=subscription_id)
    return _wire(streams_pb2.ReadResp(confirmation=confirmation))


def checkpoint_frame(position: int) -> bytes:
    checkpoint = streams_pb2.ReadResp.Checkpoint(
        commit_position=position, prepare_position=position
    )
    return _wire(streams_pb2.ReadResp(checkpoint=checkpoint))


def stream_not_found_frame(stream: str) -> bytes:
    not_found = streams_pb2.ReadResp.StreamNotFound(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode("utf8"))
    )
    return _wire(streams_pb2.ReadResp(stream_not_found=not_found))
