"""Names the cluster mode gives things in Kafka, and the rules that keep them legal.

Guarantees:

* Every sink of group ``G`` has one control topic, ``__sinks-engine.G.<sink>``, with a
  single partition. Owning that partition in the consumer group ``sinks-engine.G``
  means owning the sink; nothing is ever written to the topic.
* A group name is 1-100 characters of ``A-Z a-z 0-9 _ -`` starting with a letter or
  digit. It has no ``.``, so the topics of group ``a`` and group ``a.b`` can never
  match each other's subscription pattern. Sink names are already limited by the
  config loader to ``engine.specification.constants.SINK_NAME_PATTERN`` (at most 100
  letters, digits, ``.``, ``_`` or ``-``), so every control topic name is legal for
  Kafka (at most 216 of the allowed 249 characters).
* Sink ``S`` of group ``G`` produces in transactions with the id ``sinks-engine.G.S``:
  whichever member starts it fences the producer of the member that had it.
* A member's client id is ``sinks-engine.G.<host>.<pid>`` (``member_client_id``), and
  ``member_of_client_id`` reads the host and pid back from it.
* ``sink_of`` is the inverse of ``control_topic`` for one group and returns None for
  any other topic, so a stray topic that matches the pattern is never taken as a sink.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from engine.specification.constants import SINK_NAME_PATTERN

CONTROL_PREFIX = "__sinks-engine"
GROUP_ID_PREFIX = "sinks-engine."
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
SINK_NAME = re.compile(SINK_NAME_PATTERN)


class MemberAddress(NamedTuple):
    """Where a member runs, as its client id tells: host ("" when unknown) and pid."""

    host: str
    pid: int | None


class GroupNameError(ValueError):
    """A group name Kafka could not use in topic and group ids."""


def check_group(group: str) -> str:
    """Return ``group`` unchanged, or raise ``GroupNameError`` saying why not."""
    if not GROUP_NAME.match(group):
        raise GroupNameError(
            f"invalid group name {group!r}: use 1-100 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return group


def transactional_prefix(group: str) -> str:
    """Sink ``S`` of group ``G`` produces with transactional id ``sinks-engine.G.S``."""
    return GROUP_ID_PREFIX + check_group(group) + "."


def consumer_group_id(group: str) -> str:
    return GROUP_ID_PREFIX + check_group(group)


def member_client_id(group: str, host: str, pid: int) -> str:
    # Shown by the coordinator for every member: enough to find the process.
    return f"{GROUP_ID_PREFIX}{group}.{host}.{pid}"


def member_of_client_id(group: str, client_id: str) -> MemberAddress:
    """The host and pid ``member_client_id`` put in ``client_id``; unknown parts empty."""
    prefix = f"{GROUP_ID_PREFIX}{group}."
    rest = client_id[len(prefix) :] if client_id.startswith(prefix) else ""
    host, _, pid = rest.rpartition(".")
    return MemberAddress(host, int(pid) if pid.isdigit() else None)


def topic_prefix(group: str) -> str:
    return f"{CONTROL_PREFIX}.{check_group(group)}."


def control_topic(group: str, sink: str) -> str:
    if not SINK_NAME.match(sink):
        raise ValueError(f"invalid sink name {sink!r}")
    return topic_prefix(group) + sink


def subscription_pattern(group: str) -> str:
    # librdkafka treats a subscription that starts with '^' as a regex. The only
    # regex character legal names hold is '.', so escaping it is enough.
    return "^" + topic_prefix(group).replace(".", "\\.") + ".+$"


def sink_of(group: str, topic: str) -> str | None:
    prefix = topic_prefix(group)
    if not topic.startswith(prefix):
        return None
    sink = topic[len(prefix) :]
    return sink if SINK_NAME.match(sink) else None
