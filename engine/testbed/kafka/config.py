"""Configuration files of the single-node KRaft test broker.

Guarantees: every listener binds and advertises 127.0.0.1 only; the controller has
its own listener; SASL users exist for PLAIN (in the JAAS config) and for both SCRAM
mechanisms (added to the metadata log at format time, see ``scram_format_args``);
internal topics use replication factor 1 so one node is a complete cluster.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.testbed.kafka.certs import TlsMaterial

HOST = "127.0.0.1"
NODE_ID = 1
# The PLAINTEXT and controller listeners carry no identity, so their principal is
# ANONYMOUS; it must be a super user once an authorizer is switched on.
SUPER_USERS = "User:ANONYMOUS"
AUTHORIZER_CLASS = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


class Listener(enum.Enum):
    PLAINTEXT = "PLAINTEXT"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"
    CONTROLLER = "CONTROLLER"

    @classmethod
    def parse(cls, name: str | Listener) -> Listener:
        if isinstance(name, Listener):
            return name
        try:
            return cls(name.upper())
        except ValueError:
            known = ", ".join(m.value for m in cls if m is not cls.CONTROLLER)
            raise ValueError(f"unknown listener {name!r}; expected one of {known}") from None


CLIENT_LISTENERS = (Listener.PLAINTEXT, Listener.SASL_PLAINTEXT, Listener.SASL_SSL)

# Fixed, documented credentials: the broker only ever listens on loopback.
USERS: Mapping[str, tuple[str, str]] = {
    "PLAIN": ("plain-user", "plain-password"),
    "SCRAM-SHA-256": ("scram256-user", "scram256-password"),
    "SCRAM-SHA-512": ("scram512-user", "scram512-password"),
}


@dataclass(frozen=True, slots=True)
class BrokerPorts:
    plaintext: int
    sasl_plaintext: int
    sasl_ssl: int
    controller: int

    def port(self, listener: Listener) -> int:
        return {
            Listener.PLAINTEXT: self.plaintext,
            Listener.SASL_PLAINTEXT: self.sasl_plaintext,
            Listener.SASL_SSL: self.sasl_ssl,
            Listener.CONTROLLER: self.controller,
        }[listener]

    @classmethod
    def free(cls) -> BrokerPorts:
        """Four distinct ports the kernel reports free on 127.0.0.1 right now."""
        sockets = []
        try:
            for _ in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((HOST, 0))
                sockets.append(s)
            ports = [s.getsockname()[1] for s in sockets]
        finally:
            for s in sockets:
                s.close()
        return cls(*ports)

    @classmethod
    def from_base(cls, base: int) -> BrokerPorts:
        return cls(base, base + 1, base + 2, base + 3)


def _jaas_plain() -> str:
    entries = " ".join(
        f'user_{user}="{password}"' for mech, (user, password) in USERS.items() if mech == "PLAIN"
    )
    return f"org.apache.kafka.common.security.plain.PlainLoginModule required {entries};"


SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def server_properties(
    ports: BrokerPorts, data_dir: Path, tls: TlsMaterial, *, authorizer: bool = False
) -> str:
    listeners = ",".join(f"{lst.value}://{HOST}:{ports.port(lst)}" for lst in Listener)
    advertised = ",".join(f"{lst.value}://{HOST}:{ports.port(lst)}" for lst in CLIENT_LISTENERS)
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{ports.controller}",
        "controller.listener.names": Listener.CONTROLLER.value,
        "listeners": listeners,
        "advertised.listeners": advertised,
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,"
            "CONTROLLER:PLAINTEXT"
        ),
        "inter.broker.listener.name": Listener.PLAINTEXT.value,
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        # One partition for internal topics: the first consumer group or
        # transaction is ready in well under a second on a small machine.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a hard kill the controller refuses the restarted broker until the old
        # registration's session expires (9 s by default); a short session makes a
        # hard restart take seconds, and heartbeats every 0.5 s keep a live one alive.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "500",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "sasl.enabled.mechanisms": ",".join(USERS),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.keystore.password": tls.password,
        "ssl.key.password": tls.password,
        "ssl.client.auth": "none",
    }
    for listener in ("sasl_plaintext", "sasl_ssl"):
        props[f"listener.name.{listener}.plain.sasl.jaas.config"] = _jaas_plain()
        props[f"listener.name.{listener}.scram-sha-256.sasl.jaas.config"] = SCRAM_JAAS
        props[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"] = SCRAM_JAAS
    if authorizer:
        props["authorizer.class.name"] = AUTHORIZER_CLASS
        props["allow.everyone.if.no.acl.found"] = "true"
        props["super.users"] = SUPER_USERS
    return "".join(f"{key}={_escape(value)}\n" for key, value in props.items())


def _escape(value: str) -> str:
    # java.util.Properties treats backslashes as escapes; paths and JAAS strings
    # here contain none on Linux, but keep any that appear literal.
    return value.replace("\\", "\\\\")


def scram_format_args() -> list[str]:
    """``--add-scram`` arguments for the storage tool's ``format`` command."""
    args: list[str] = []
    for mechanism, (user, password) in USERS.items():
        if mechanism.startswith("SCRAM-"):
            args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    return args


LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.tool.name = kafka.tools
logger.tool.level = WARN
"""
