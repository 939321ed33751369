"""The ``topic`` setting: a Kafka topic name, or a template filled from each event;
and text settings with the same placeholders (``headers:cloudEventsSource``).

``topic: "es.{category}"`` sends ``order-17`` to ``es.order``. The placeholders:

=====================  ================================================================
``{stream}``           the stream name
``{category}``         the stream name before its first ``-`` (as KurrentDB's
                       category projection cuts it); the whole name when it has none
``{streamSuffix}``     the stream name after its last ``-``; the whole name when it
                       has none
``{eventType}``        the event type
``{metadata:KEY}``     the value of ``KEY`` in the event's JSON metadata (a string as
                       it is, any other JSON value in compact JSON)
=====================  ================================================================

Guarantees:

* ``parse_topic`` reads a template once, at validation, and raises ``TopicError``
  naming the first unknown, empty or unclosed placeholder (``unknown`` holds an
  unknown name, for the caller's did-you-mean). A topic without placeholders must be
  a Kafka topic name as it is (1 to 249 of ``[A-Za-z0-9._-]``, neither ``.`` nor
  ``..``).
* ``TopicTemplate.topic_of`` fills it for one event and either returns a name Kafka
  accepts or raises ``TopicError`` saying why not (the filled name is too long, has a
  character Kafka refuses, is ``.``/``..``, or a metadata key is missing). The
  engine treats that as the event's poison (``errors:tolerance``), never a crash;
  characters are not replaced, so two streams can never be merged into one topic
  by accident.
* ``parse_text`` reads a text setting with the same placeholders; its
  ``TextTemplate.text_of`` never fails (an absent metadata key fills in as nothing).
* Names already checked are remembered (up to ``_CHECKED_NAMES``), so a routed sink
  pays the check once per topic, not once per event; a template that reads only the
  stream and the event type remembers the topic of each (stream, type) as well, so an
  event of a stream seen before costs one dictionary lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.specification.formats import FORMATS

PLACEHOLDERS = ("stream", "category", "streamSuffix", "eventType")
METADATA = "metadata:"
KNOWN = (*PLACEHOLDERS, f"{METADATA}KEY")  # as messages list them
MAX_TOPIC_LENGTH = 249
_NAME = re.compile(FORMATS["kafka-topic"].pattern)
_CHECKED_NAMES = 10_000


class TopicError(ValueError):
    """A template that cannot be read, or an event whose topic cannot be made.

    ``unknown``: the unknown placeholder's name, for a did-you-mean."""

    def __init__(self, message: str, unknown: str | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown


@dataclass(frozen=True)
class Placeholder:
    name: str  # one of PLACEHOLDERS, or "metadata"
    key: str = ""  # the metadata key of {metadata:KEY}

    def __str__(self) -> str:
        return f"{{{METADATA}{self.key}}}" if self.name == "metadata" else f"{{{self.name}}}"


def fill(
    parts: tuple[str | Placeholder, ...],
    stream: str,
    event_type: str,
    metadata: Mapping[str, Any],
    missing: Callable[[str], str],
) -> str:
    """``parts`` filled for one event; ``missing(key)`` stands in for an absent metadata
    key (it may raise)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part.name == "stream":
            out.append(stream)
        elif part.name == "category":
            out.append(stream.split("-", 1)[0])
        elif part.name == "streamSuffix":
            out.append(stream.rsplit("-", 1)[-1])
        elif part.name == "eventType":
            out.append(event_type)
        elif part.key in metadata:
            value = metadata[part.key]
            out.append(value if isinstance(value, str) else json.dumps(value))
        else:
            out.append(missing(part.key))
    return "".join(out)


@dataclass(frozen=True)
class TopicTemplate:
    text: str
    parts: tuple[str | Placeholder, ...]
    _checked: dict[str, None] = field(default_factory=dict, compare=False, repr=False)
    _known: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def routed(self) -> bool:
        """Whether the topic depends on the event (it holds a placeholder)."""
        return any(isinstance(p, Placeholder) for p in self.parts)

    @cached_property
    def needs_metadata(self) -> bool:
        return any(isinstance(p, Placeholder) and p.name == "metadata" for p in self.parts)

    def topic_of(self, stream: str, event_type: str, metadata: Mapping[str, Any]) -> str:
        """The topic of one event, or ``TopicError`` saying why it has none."""
        if not self.routed:
            return self.text
        if self.needs_metadata:
            return self._make(stream, event_type, metadata)
        known = self._known.get((stream, event_type))
        if known is None:
            known = self._make(stream, event_type, metadata)
            if len(self._known) >= _CHECKED_NAMES:
                self._known.clear()
            self._known[(stream, event_type)] = known
        return known

    def _make(self, stream: str, event_type: str, metadata: Mapping[str, Any]) -> str:
        name = fill(self.parts, stream, event_type, metadata, self._no_key)
        if name not in self._checked:
            problem = name_problem(name)
            if problem is not None:
                raise TopicError(f"topic {self.text!r} gives {name!r} for this event: {problem}")
            if len(self._checked) >= _CHECKED_NAMES:
                self._checked.clear()
            self._checked[name] = None
        return name

    def _no_key(self, key: str) -> str:
        raise TopicError(f"topic {self.text!r}: the event's metadata has no key {key!r}")


@dataclass(frozen=True)
class TextTemplate:
    """A text setting with the same placeholders, that no name rule applies to (the
    CloudEvents source): an absent metadata key fills in as nothing."""

    text: str
    parts: tuple[str | Placeholder, ...]

    def text_of(self, stream: str, event_type: str, metadata: Mapping[str, Any]) -> str:
        return fill(self.parts, stream, event_type, metadata, lambda key: "")


def parse_text(text: str) -> TextTemplate:
    """A text with placeholders, or ``TopicError`` for an unknown or unclosed one."""
    return TextTemplate(text, _parts(text))


def name_problem(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic name, or None."""
    if not name:
        return "a topic name cannot be empty"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"a topic name has at most {MAX_TOPIC_LENGTH} characters, this one {len(name)}"
    if name in (".", ".."):
        return "a topic name cannot be '.' or '..'"
    if not _NAME.match(name):
        bad = sorted({c for c in name if not re.match(r"[A-Za-z0-9._-]", c)})
        return "Kafka refuses the character(s) " + ", ".join(repr(c) for c in bad)
    return None


def parse_topic(text: str) -> TopicTemplate:
    """The template of a ``topic`` setting, or ``TopicError`` (see the module docstring)."""
    parts = _parts(text)
    template = TopicTemplate(text, parts)
    if not template.routed:
        problem = name_problem(text)
        if problem is not None:
            raise TopicError(problem)
    elif sum(len(p) for p in parts if isinstance(p, str)) > MAX_TOPIC_LENGTH:
        raise TopicError(f"its fixed parts alone are longer than {MAX_TOPIC_LENGTH} characters")
    return template


def _parts(text: str) -> tuple[str | Placeholder, ...]:
    parts: list[str | Placeholder] = []
    literal = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "}":
            raise TopicError(f"a '}}' at character {i + 1} closes no placeholder")
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        end = text.find("}", i + 1)
        if end < 0:
            raise TopicError(f"the placeholder at character {i + 1} is not closed with '}}'")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_placeholder(text[i + 1 : end]))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def _placeholder(inner: str) -> Placeholder:
    if inner in PLACEHOLDERS:
        return Placeholder(inner)
    if inner.startswith(METADATA):
        key = inner[len(METADATA) :]
        if not key:
            raise TopicError("{metadata:} names no key: write {metadata:KEY}")
        return Placeholder("metadata", key)
    known = ", ".join(f"{{{k}}}" for k in KNOWN)
    if not inner:
        raise TopicError(f"an empty placeholder '{{}}': the placeholders are {known}")
    raise TopicError(f"unknown placeholder '{{{inner}}}'; the placeholders are {known}", inner)
