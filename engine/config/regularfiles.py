"""Reading a file a template names: only a regular file, and never past a limit.

``read_regular(path, limit)`` returns the bytes of a regular file of at most ``limit``
bytes, or raises ``Refused`` with a reason a user can act on: the kind of file it is
when it is not regular (a FIFO or a device would block a render or never end; a
folder has no content), or its size when it is over the limit. The file is opened
without blocking and checked through the open descriptor, so a file swapped for a
FIFO between the check and the read is still refused, and a file that grows while
it is read is still cut off at ``limit + 1`` bytes and refused, never cut silently.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class Refused(Exception):
    """Why the file was not read (one phrase: 'is a FIFO, not a regular file')."""


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: Path, limit: int) -> bytes:
    """The file's bytes; ``Refused`` when it is not a regular file or is over ``limit``."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise Refused(f"is {kind_of(status.st_mode)}, not a regular file")
        if status.st_size > limit:
            raise Refused(f"is {status.st_size} bytes, over the limit of {limit} bytes")
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise Refused(f"is over the limit of {limit} bytes")
    return data
