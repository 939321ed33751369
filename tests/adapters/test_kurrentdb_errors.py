"""Client-library exceptions become TemporaryError or PermanentError (either library)."""

from __future__ import annotations

import grpc
import pytest

from engine.adapters.kurrentdb import LIBRARY, KurrentClient, translate
from engine.specification.errors import PermanentError, TemporaryError
from tests.fixtures.kurrentdb_library import ClientError
from tests.fixtures.kurrentdb_library import errors as esdb


@pytest.mark.parametrize(
    "exc",
    [
        esdb.ServiceUnavailable("gone"),
        esdb.DeadlineExceeded("slow"),
        esdb.GrpcDeadlineExceeded("slow"),
        esdb.SSLError("handshake"),
        esdb.AbortedByServer("bye"),
        esdb.NodeIsNotLeader("follower"),
        esdb.DiscoveryFailed("no gossip"),
        ConnectionResetError("reset"),
    ],
)
def test_connection_problems_are_temporary(exc: BaseException) -> None:
    error = translate(exc, "reading $all")
    assert isinstance(error, TemporaryError)
    assert str(error).startswith("kurrentdb: reading $all: ")


@pytest.mark.parametrize(
    "exc",
    [
        esdb.AccessDeniedError("no"),
        esdb.BadRequestError("bad"),
        esdb.WrongCurrentVersion("v"),
        esdb.StreamIsDeleted("deleted"),
        esdb.MaximumAppendSizeExceededError("big"),
        esdb.UnknownError("?"),
    ],
)
def test_other_failures_are_permanent(exc: BaseException) -> None:
    assert isinstance(translate(exc, "appending"), PermanentError)


def test_exact_text() -> None:
    error = translate(esdb.ServiceUnavailable("connection refused"), "subscribing")
    # The text names the library's own class; kurrentdbclient appends "Error".
    name = "ServiceUnavailable" if LIBRARY == "esdbclient" else "ServiceUnavailableError"
    assert str(error) == f"kurrentdb: subscribing: {name}: connection refused"


class _Call(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.mark.parametrize("chained", ["__cause__", "__context__"])
@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, TemporaryError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, TemporaryError),
        (grpc.StatusCode.PERMISSION_DENIED, PermanentError),
    ],
)
def test_the_base_class_over_a_grpc_error_follows_its_status_code(
    code: grpc.StatusCode, kind: type[Exception], chained: str
) -> None:
    # What kurrentdbclient raises for a rich status whose details it does not know.
    exc = ClientError("status with unknown details")
    setattr(exc, chained, _Call(code))
    assert type(translate(exc, "reading $all")) is kind


def test_invalid_connection_string_is_permanent() -> None:
    with pytest.raises(PermanentError, match="kurrentdb: invalid connection string"):
        KurrentClient("http://nowhere")


def test_unreachable_server_is_temporary() -> None:
    client = KurrentClient("esdb://127.0.0.1:1?Tls=false")
    try:
        with pytest.raises(TemporaryError, match="ServiceUnavailable"):
            client.head_position()
    finally:
        client.close()
