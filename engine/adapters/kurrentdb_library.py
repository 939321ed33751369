"""Which KurrentDB client library the engine talks through; it imports neither.

esdbclient is the default; kurrentdbclient (its maintained successor) is used when
``$SINKS_KURRENTDB_CLIENT`` says so, or when it is the only one installed. The two
need grpcio versions that do not overlap, so normally only one is installed. The
answer is read once, when ``engine.adapters.kurrentdb`` (or the test bed's stand-in)
is first imported: ``sinks run --kurrentdb-client`` sets the variable before that.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

from engine.specification.constants import KURRENTDB_CLIENT_VARIABLE, KURRENTDB_CLIENTS
from engine.specification.errors import PermanentError


def installed(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


def chosen_library(environ: Mapping[str, str] = os.environ) -> str:
    """``esdbclient`` or ``kurrentdbclient``; PermanentError when the choice cannot be had."""
    wanted = environ.get(KURRENTDB_CLIENT_VARIABLE, "").strip().lower()
    if wanted:
        if wanted not in KURRENTDB_CLIENTS:
            raise PermanentError(
                f"{KURRENTDB_CLIENT_VARIABLE}={wanted!r}: not one of {', '.join(KURRENTDB_CLIENTS)}"
            )
        if not installed(wanted):
            raise PermanentError(
                f"{KURRENTDB_CLIENT_VARIABLE}={wanted}: {wanted} is not installed here "
                "(see README, 'Running against real servers')"
            )
        return wanted
    for library in KURRENTDB_CLIENTS:
        if installed(library):
            return library
    raise PermanentError(
        f"no KurrentDB client library installed (one of {', '.join(KURRENTDB_CLIENTS)})"
    )
