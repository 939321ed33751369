"""Hypothesis strategies for setting values the settings tables accept."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from engine.specification.tables import SettingSpec, SettingType

_TOPIC_CHARS = string.ascii_letters + string.digits + "._-"
_HOST_CHARS = string.ascii_letters + string.digits + ".-"


def _topics() -> st.SearchStrategy[str]:
    return st.text(_TOPIC_CHARS, min_size=1, max_size=249).filter(lambda t: t not in (".", ".."))


def _topic_templates() -> st.SearchStrategy[str]:
    placeholder = st.sampled_from(
        ["{stream}", "{category}", "{streamSuffix}", "{eventType}", "{metadata:tenant}"]
    )
    prefix = st.text(_TOPIC_CHARS, max_size=40)
    return st.one_of(_topics(), st.tuples(prefix, placeholder).map("".join))


def _host_port_lists() -> st.SearchStrategy[str]:
    host = st.one_of(
        st.text(_HOST_CHARS, min_size=1, max_size=20),
        st.sampled_from(["[::1]", "[fe80::1]", "127.0.0.1"]),
    )
    entry = st.tuples(host, st.integers(1, 65535)).map(lambda hp: f"{hp[0]}:{hp[1]}")
    separator = st.sampled_from([",", ", ", " ,"])
    return st.lists(st.tuples(entry, separator), min_size=1, max_size=4).map(
        lambda items: "".join(e + s for e, s in items[:-1]) + items[-1][0]
    )


FORMATTED: dict[str, st.SearchStrategy[str]] = {
    "kafka-topic": _topics(),
    "kafka-topic-template": _topic_templates(),
    "host-port-list": _host_port_lists(),
}


def setting_values(spec: SettingSpec) -> st.SearchStrategy[Any]:
    """Canonical values of ``spec`` that its table row accepts."""
    if spec.format is not None:
        return FORMATTED[spec.format.name]
    if spec.accepted:
        return st.sampled_from(spec.accepted)
    if spec.type is SettingType.BOOLEAN:
        return st.booleans()
    if spec.type is SettingType.INT:
        low = spec.minimum if spec.minimum is not None else -(2**31)
        high = spec.maximum if spec.maximum is not None else 2**31 - 1
        return st.integers(low, high)
    if spec.type is SettingType.TIMESPAN:
        return st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)).map(
            lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}"
        )
    if spec.type is SettingType.DICT:
        names = st.text(string.ascii_letters + "-", min_size=1, max_size=10)
        return st.dictionaries(names, st.text(string.printable, max_size=10), max_size=3)
    return st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8)
