"""Plain values shared by every layer (immutable, no behaviour that does I/O).

* ``Location`` / ``Diagnostic`` - where a config problem is and how it prints
  (``path:line:col: error: key: message``), 1-based line and column. Other places a
  diagnostic refers to (the first spelling of a repeated key, the other definition
  of a sink name) are ``Related`` data, so they can be mapped (template lines) or
  read by tools without parsing the message.
* ``SinkDefinition`` - one validated sink: ``settings`` is its typed
  ``engine.specification.settings.SinkSettings``, built once when the file was loaded and read by
  everything that runs or reports the sink; ``canonical`` is the same settings as
  flat keys in their canonical spelling with defaults applied, the view that
  rendering, diffs and the export format print; ``explicit`` lists the keys the
  user wrote. ``digest`` is computed from the canonical view only, so formatting or
  comment edits never change it.
* ``Record`` - one KurrentDB event as a sink sees it.
* ``Message`` - one Kafka message ready to produce, with the record position it
  stands for.

``Record`` and ``Message`` are named tuples rather than frozen dataclasses: one of
each is built per event on the hot path, and a frozen dataclass's ``__init__``
(one ``object.__setattr__`` per field) costs about four times as much there.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from engine.specification.settings import SinkSettings


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    path: str
    line: int = 0
    column: int = 0

    def format(self) -> str:
        if self.line <= 0:
            return self.path
        if self.column <= 0:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


class Relation(enum.Enum):
    """How a diagnostic's message introduces a related location."""

    ALSO_DEFINED = "also defined at"  # printed as the full location
    FIRST_WRITTEN = "first written at"  # printed as "line N" (same file)


@dataclass(frozen=True, slots=True)
class Related:
    """Another place a diagnostic points at."""

    location: Location
    relation: Relation = Relation.ALSO_DEFINED
    rendered: bool = False  # the line is one of a template's rendered output

    def format(self) -> str:
        if self.relation is Relation.FIRST_WRITTEN:
            text = f"line {self.location.line}"
        else:
            text = self.location.format()
        return f"{text} of the rendered output" if self.rendered else text


@dataclass(frozen=True, slots=True)
class Diagnostic:
    location: Location | None
    message: str
    key: str | None = None
    severity: Severity = Severity.ERROR
    note: str | None = None
    related: tuple[Related, ...] = ()

    @property
    def text(self) -> str:
        """The message with its related places: ``duplicate key (first written at line 3)``."""
        if not self.related:
            return self.message
        places = ", ".join(r.format() for r in self.related)
        return f"{self.message} ({self.related[0].relation.value} {places})"

    def format(self) -> str:
        where = f"{self.location.format()}: " if self.location else ""
        what = f"{self.key}: " if self.key else ""
        text = f"{where}{self.severity.value}: {what}{self.text}"
        if self.note:
            text += f"\n  note: {self.note}"
        return text


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class SinkDefinition:
    name: str
    settings: SinkSettings
    canonical: Mapping[str, Any]
    explicit: frozenset[str] = frozenset()
    source_file: str = ""
    description: str = ""
    enabled: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical", _freeze(self.canonical))
        object.__setattr__(self, "labels", _freeze(self.labels))
        object.__setattr__(self, "locations", MappingProxyType(dict(self.locations)))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (definitions come back from the process that loaded their file): the
        frozen mappings travel as plain ones and are frozen again on arrival."""
        return (
            SinkDefinition,
            (
                self.name,
                self.settings,
                self.plain_canonical(),
                self.explicit,
                self.source_file,
                self.description,
                self.enabled,
                dict(self.labels),
                dict(self.locations),
            ),
        )

    @classmethod
    def from_canonical(
        cls, name: str, canonical: Mapping[str, Any], **fields: Any
    ) -> SinkDefinition:
        """A definition whose typed settings are built from ``canonical`` (defaults for
        missing keys): for a definition made outside the loader, or changed after it."""
        # Imported here: engine.specification.settings reads the tables, which use this
        # module's values.
        from engine.specification.settings import SinkSettings

        settings = SinkSettings.from_canonical(canonical)
        return cls(name=name, settings=settings, canonical=canonical, **fields)

    def plain_canonical(self) -> dict[str, Any]:
        """A mutable deep copy of the canonical settings view."""
        return {k: _thaw(v) for k, v in self.canonical.items()}

    @functools.cached_property
    def digest(self) -> str:
        """Hash of what defines the running sink: name, enabled and the canonical view.

        Computed once: the definition is immutable and status reports ask often."""
        body = json.dumps(
            {"name": self.name, "enabled": self.enabled, "settings": self.plain_canonical()},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


class Record(NamedTuple):
    """One event read from KurrentDB (the fields the original's sink record has)."""

    record_id: str
    stream_id: str
    stream_revision: int
    log_position: int
    timestamp_ms: int
    schema_subject: str
    is_json: bool
    value: bytes
    metadata: bytes = b""

    @property
    def schema_type(self) -> str:
        return "json" if self.is_json else "bytes"


class Message(NamedTuple):
    """A Kafka message; ``position`` is the log position of the record it came from."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int
    position: int
    record_id: str = ""
    is_transformed: bool = False
