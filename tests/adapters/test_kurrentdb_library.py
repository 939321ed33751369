"""Which KurrentDB client library is used: the installed one, or the one the variable names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.adapters.kurrentdb import LIBRARY
from engine.adapters.kurrentdb_library import chosen_library, installed
from engine.specification.constants import KURRENTDB_CLIENT_VARIABLE, KURRENTDB_CLIENTS
from engine.specification.errors import PermanentError
from tests.adapters.test_kurrentdb_adapter import Plan

ROOT = Path(__file__).resolve().parent.parent.parent
MISSING = [library for library in KURRENTDB_CLIENTS if not installed(library)]


def test_unset_means_the_first_installed_library() -> None:
    first = next(library for library in KURRENTDB_CLIENTS if installed(library))
    assert chosen_library({}) == first
    assert chosen_library({KURRENTDB_CLIENT_VARIABLE: ""}) == first


def test_the_adapter_uses_the_chosen_library() -> None:
    assert chosen_library() == LIBRARY
    client = sys.modules["engine.adapters.kurrentdb"].SingleThreadedClient
    assert client.__mro__[1].__module__.split(".")[0] == LIBRARY


@pytest.mark.parametrize("value", ["esdbclient", "KurrentDBClient", " kurrentdbclient "])
def test_a_named_library_is_used_when_installed(value: str) -> None:
    name = value.strip().lower()
    if not installed(name):
        pytest.skip(f"{name} is not installed in this virtualenv")
    assert chosen_library({KURRENTDB_CLIENT_VARIABLE: value}) == name


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(PermanentError) as caught:
        chosen_library({KURRENTDB_CLIENT_VARIABLE: "grpcclient"})
    assert str(caught.value) == (
        "SINKS_KURRENTDB_CLIENT='grpcclient': not one of esdbclient, kurrentdbclient"
    )


@pytest.mark.skipif(not MISSING, reason="both libraries are installed")
def test_a_library_that_is_not_installed_is_refused() -> None:
    with pytest.raises(PermanentError) as caught:
        chosen_library({KURRENTDB_CLIENT_VARIABLE: MISSING[0]})
    assert str(caught.value) == (
        f"SINKS_KURRENTDB_CLIENT={MISSING[0]}: {MISSING[0]} is not installed here "
        "(see README, 'Running against real servers')"
    )


@pytest.mark.skipif(not MISSING, reason="both libraries are installed")
def test_sinks_run_refuses_a_client_that_is_not_installed(tmp_path: Path) -> None:
    flags = ["--dir", str(tmp_path), "--kurrentdb-client", MISSING[0], "--status-addr", "off"]
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "run", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"sinks run: error: SINKS_KURRENTDB_CLIENT={MISSING[0]}: {MISSING[0]} is not "
        "installed here (see README, 'Running against real servers')"
    ]


@pytest.mark.integration
def test_both_speed_hooks_exist_in_the_library(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    """The fast path rests on two private names of the library: the channel factory
    that ``SingleThreadedClient`` overrides and the one-reply read the subscription
    iterates. If a release renamed either, reads would fall back to the slow path
    without failing, so this test fails instead."""
    adapter = sys.modules["engine.adapters.kurrentdb"]
    base = adapter.SingleThreadedClient.__mro__[1]
    assert callable(getattr(base, "_construct_esdb_connection", None))
    client = adapter.KurrentClient(kurrentdb.url)
    try:
        channel = client._client._connection._grpc_channel
        assert channel._single_threaded_unary_stream is True  # grpc's flag for the option
        subscription = client.subscribe(Plan(), from_end=True)
        assert callable(getattr(subscription._inner, "_get_next_read_resp", None))
        subscription.stop()
    finally:
        client.close()
