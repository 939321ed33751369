"""The ``sinks run`` options of cluster mode, each with its environment variable.

``--group NAME`` turns cluster mode on; without it the engine runs standalone.
Authentication towards the coordination cluster takes the same values a sink's
``authentication`` settings take, in any letter case. A flag wins over its
variable; the password is best given through the variable.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.specification import naming
from engine.specification.connection import ClusterConnection
from engine.specification.constants import CLUSTER_OPTION_VARIABLES
from engine.specification.settings import SaslMechanism, SecurityProtocol

_E = TypeVar("_E", SecurityProtocol, SaslMechanism)

# option (the argparse dest) → its environment variable
ENV = CLUSTER_OPTION_VARIABLES


class OptionError(ValueError):
    """A cluster option that cannot be used; the text names the flag."""


@dataclass(frozen=True)
class ClusterOptions:
    group: str
    connection: ClusterConnection
    processes: int = 1


def register(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "cluster mode", "share the sinks with other engine processes through a Kafka consumer group"
    )
    g.add_argument("--group", metavar="NAME", help=f"group to join (${ENV['group']})")
    g.add_argument(
        "--group-bootstrap",
        metavar="HOST:PORT[,HOST:PORT]",
        help=f"Kafka cluster that coordinates the group (${ENV['group_bootstrap']})",
    )
    g.add_argument(
        "--group-security-protocol",
        metavar="P",
        help="Plaintext (default), Ssl, SaslPlaintext or SaslSsl "
        f"(${ENV['group_security_protocol']})",
    )
    g.add_argument(
        "--group-sasl-mechanism",
        metavar="M",
        help=f"Plain (default), ScramSha256 or ScramSha512 (${ENV['group_sasl_mechanism']})",
    )
    g.add_argument("--group-username", metavar="U", help=f"SASL user (${ENV['group_username']})")
    g.add_argument(
        "--group-password", metavar="P", help=f"SASL password (${ENV['group_password']})"
    )
    g.add_argument(
        "--group-ca-file", metavar="PEM", help=f"CA file for TLS (${ENV['group_ca_file']})"
    )
    g.add_argument(
        "--group-session-timeout-ms",
        metavar="MS",
        help="a member silent this long is replaced and its sinks move "
        f"(default 10000; ${ENV['group_session_timeout_ms']})",
    )
    g.add_argument(
        "--processes",
        metavar="N",
        help=f"run N members of the group on this machine, one process each (${ENV['processes']})",
    )


def _value(args: argparse.Namespace, name: str) -> str | None:
    flag = getattr(args, name, None)
    return flag if flag not in (None, "") else (os.environ.get(ENV[name]) or None)


def _enum(kind: type[_E], text: str, flag: str) -> _E:
    for member in kind:
        if member.value.lower() == text.lower():
            return member
    accepted = ", ".join(m.value for m in kind)
    raise OptionError(f"{flag}: {text!r} is not one of {accepted}")


def _int(text: str, flag: str, low: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise OptionError(f"{flag}: expected a whole number, got {text!r}") from None
    if number < low:
        raise OptionError(f"{flag}: must be at least {low}, got {number}")
    return number


def from_args(args: argparse.Namespace) -> ClusterOptions | None:
    """The cluster options given, or None for a standalone engine."""
    group = _value(args, "group")
    processes_text = _value(args, "processes")
    if group is None:
        if processes_text is not None:
            raise OptionError("--processes: needs --group (the processes share sinks as a group)")
        return None
    try:
        naming.check_group(group)
    except naming.GroupNameError as exc:
        raise OptionError(f"--group: {exc}") from None
    bootstrap = _value(args, "group_bootstrap")
    if bootstrap is None:
        raise OptionError("--group-bootstrap: needed with --group (the Kafka cluster to meet on)")
    protocol = _value(args, "group_security_protocol")
    mechanism = _value(args, "group_sasl_mechanism")
    session = _value(args, "group_session_timeout_ms")
    # Options not given keep ClusterConnection's defaults (a sink's, for authentication).
    given: dict[str, Any] = {}
    if protocol:
        given["security_protocol"] = _enum(SecurityProtocol, protocol, "--group-security-protocol")
    if mechanism:
        given["sasl_mechanism"] = _enum(SaslMechanism, mechanism, "--group-sasl-mechanism")
    if session:
        given["session_timeout_ms"] = _int(session, "--group-session-timeout-ms", 1000)
    connection = ClusterConnection(
        bootstrap=bootstrap,
        username=_value(args, "group_username"),
        password=_value(args, "group_password"),
        ca_file=_value(args, "group_ca_file"),
        **given,
    )
    processes = _int(processes_text, "--processes", 1) if processes_text else 1
    return ClusterOptions(group=group, connection=connection, processes=processes)
