"""Every exit code the ``sinks`` command can return, in one place.

Commands return these members (an ``IntEnum``, so they are plain ints to the
shell); the README's exit-code table is ``markdown_table()``, and a test keeps the
two equal.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CONFIG = 1  # configuration errors, a failed check, or a refused request
    USAGE = 2  # argparse: unknown flag, missing argument
    INTERNAL = 3  # an unexpected error (traceback in the log file named on stderr), or an
    # interpreter that cannot import what a running sink needs
    DIFFERENCES = 4  # `sinks diff` found differences
    STUCK = 5  # `sinks run`: a sink did not stop before the shutdown deadline
    TEMPORARY = 6  # a server the command needs could not be reached; try again later
    INTERRUPTED = 130  # SIGINT (Ctrl-C), as shells report it


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (`sinks diff`: no difference)",
    ExitCode.CONFIG: "configuration errors, a failed check (`schema --check`, `test`, "
    "`demo`), or a refused request (`reset` of a running sink, no engine answering `status`, "
    "`run --group` whose coordination cluster cannot be reached at start)",
    ExitCode.USAGE: "usage error: unknown flag, missing or conflicting arguments, unknown git ref",
    ExitCode.INTERNAL: "unexpected internal error; stderr names a log file with the traceback. "
    "Also `validate`, `test`, `run` and `demo` on a Python that cannot import a module a "
    "running sink needs (stderr names the module and the installed version)",
    ExitCode.DIFFERENCES: "`sinks diff` found differences",
    ExitCode.STUCK: "`sinks run`: a sink did not stop before the shutdown deadline",
    ExitCode.TEMPORARY: "KurrentDB or Kafka could not be reached (e.g. `sinks reset` with the "
    "server down); try again later",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def markdown_table() -> str:
    """The README's exit-code table."""
    rows = ["| Code | Name | Meaning |", "|---|---|---|"]
    rows += [f"| {code.value} | `{code.name}` | {MEANINGS[code]} |" for code in ExitCode]
    return "\n".join(rows) + "\n"
