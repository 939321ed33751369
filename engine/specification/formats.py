"""Named formats a string setting may require, as the settings tables name them.

A table row whose Accepted values cell reads ``format `<name>``` takes only strings of
that form. Each format is one regular expression that means the same in Python's ``re``
(the engine's validation) and in ECMA-262 unicode mode (editors and JSON Schema tools
reading the generated schema), plus the words a message uses for it. The expressions
have no nested or overlapping repetition, so they run in linear time on any input.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class StringFormat:
    name: str
    pattern: str
    summary: str  # completes "'x' is not ..."


# Kafka's own rule (kafka.common.internals.Topic): 1..249 characters out of
# [a-zA-Z0-9._-], and neither "." nor "..". "(?!\n)": Python's "$" also matches
# before a final newline, ECMA-262's does not.
_TOPIC = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,249}$(?!\n)"

# A topic that may name parts of each event in braces ("es.{category}"): topic-name
# characters and {...} groups. Which names a group may hold, and the length and the
# "."/".." rule of a name without groups, are checked by engine.specification.topics.
_TOPIC_TEMPLATE = r"^(?:[A-Za-z0-9._-]|\{[^{}]*\})+$(?!\n)"

# host:port, the host a name or IPv4 address, or an IPv6 address in brackets; port 1..65535.
_HOST = r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_ENTRY = f"{_HOST}:{_PORT}"
_HOST_PORT_LIST = rf"^\s*{_ENTRY}\s*(?:,\s*{_ENTRY}\s*)*$"

FORMATS: MappingProxyType[str, StringFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            StringFormat(
                "kafka-topic",
                _TOPIC,
                "a Kafka topic name: 1 to 249 letters, digits, '.', '_' or '-', "
                "and not '.' or '..'",
            ),
            StringFormat(
                "kafka-topic-template",
                _TOPIC_TEMPLATE,
                "a Kafka topic name (letters, digits, '.', '_' or '-') in which "
                "{placeholders} may stand for parts of each event",
            ),
            StringFormat(
                "host-port-list",
                _HOST_PORT_LIST,
                "a comma-separated list of host:port (port 1..65535, an IPv6 address in brackets)",
            ),
        )
    }
)
