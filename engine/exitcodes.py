"""Every exit code the ``sinks`` command can return, in one place.

Commands return these members (an ``IntEnum``, so they are plain ints to the
shell); the README's exit-code table is written from this list.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CONFIG = 1  # configuration errors, a failed check, or a refused request
    USAGE = 2  # argparse: unknown flag, missing argument
    INTERNAL = 3  # an unexpected error; the traceback is in the log file named on stderr
    DIFFERENCES = 4  # `sinks diff` found differences
    STUCK = 5  # `sinks run`: a sink did not stop before the shutdown deadline
    TEMPORARY = 6  # a server the command needs could not be reached; try again later
    INTERRUPTED = 130  # SIGINT (Ctrl-C), as shells report it
