"""Append-only file that keeps the stand-in's events across process restarts.

Each record is a 4-byte little-endian length followed by the event's serialised
``ReadResp`` frame, so reloading needs no other format. Records are flushed to the OS
after every append (a killed process loses nothing the OS already has); a torn record at
the end of the file, left by a crash in the middle of a write, is ignored on reload.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

_LENGTH = struct.Struct("<I")


class Journal:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._valid_length = sum(_LENGTH.size + len(f) for f in Journal.read_frames(path))
        self._file = open(path, "ab")  # noqa: SIM115 - held open for the log's lifetime
        # Drop a torn tail so new records start on a record boundary.
        self._file.truncate(self._valid_length)

    @staticmethod
    def read_frames(path: Path) -> Iterator[bytes]:
        if not path.exists():
            return
        data = path.read_bytes()
        offset = 0
        end = len(data)
        while offset + _LENGTH.size <= end:
            (length,) = _LENGTH.unpack_from(data, offset)
            start = offset + _LENGTH.size
            if start + length > end:
                return
            yield data[start : start + length]
            offset = start + length

    def write(self, frames: Sequence[bytes]) -> None:
        self._file.write(b"".join(_LENGTH.pack(len(f)) + f for f in frames))
        self._file.flush()

    def close(self) -> None:
        self._file.close()
