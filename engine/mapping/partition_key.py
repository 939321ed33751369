"""The Kafka message key from ``partitionKeyExtraction``.

* Extraction disabled, or source ``PartitionKey``: the record's own partition key.
  KurrentDB events carry none, so the key is ``None`` and the producer spreads the
  messages over the partitions.
* ``Stream``: the stream id; with an expression, the first capture group of the
  regex searched in the stream id (the whole match when the regex has no group).
  When the regex does not match (or its first group took no part in the match)
  the key falls back to the whole stream id and ``fallbacks`` counts it, so the
  message still goes out, keyed consistently per stream.
* ``StreamSuffix``: the part after the last ``-`` (``user-123`` → ``123``); the
  whole stream id when there is no ``-`` or nothing follows it.
* ``Headers``: the values of the comma-separated metadata keys, joined with ``-``
  (``key1,key2`` → ``value1-value2``). Missing keys are skipped; when none is
  present the key falls back to the stream id and ``fallbacks`` counts it.
  System (``$``) keys may be named: the filter on outgoing headers does not apply.

Keys are UTF-8 bytes. A ``Headers`` source with no key names, or an invalid
regex, raises ``PermanentError`` when the extractor is built. The regex runs through
``engine.sandbox.regexes``: a search that takes too long raises ``RegexTimeout`` for
that event (the mapper turns it into the event's ``TransformError``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.sandbox.regexes import UserRegex, compile_user_regex
from engine.specification.errors import PermanentError
from engine.specification.settings import PartitionKeySource, SinkSettings

EXPRESSION_KEY = "partitionKeyExtraction:expression"


class KeyExtractor:
    """Computes the key of one record; ``needs_headers`` says whether it reads metadata."""

    __slots__ = ("_extract", "_names", "_regex", "fallbacks", "needs_headers")

    def __init__(self, settings: SinkSettings) -> None:
        self.fallbacks = 0
        self.needs_headers = False
        self._names: tuple[str, ...] = ()
        self._regex: UserRegex | None = None
        source = settings.partition_key_source
        expression = settings.partition_key_expression.strip()
        self._extract: Callable[[str, Mapping[str, str]], bytes | None]
        if not settings.partition_key_enabled or source is PartitionKeySource.PARTITION_KEY:
            self._extract = _no_key
        elif source is PartitionKeySource.STREAM:
            if expression:
                self._regex = compile_user_regex(expression, EXPRESSION_KEY)
                self._extract = self._from_stream_regex
            else:
                self._extract = _stream_id
        elif source is PartitionKeySource.STREAM_SUFFIX:
            self._extract = _stream_suffix
        else:
            self._names = tuple(n.strip() for n in expression.split(",") if n.strip())
            if not self._names:
                raise PermanentError(
                    f"{EXPRESSION_KEY}: source Headers needs the metadata keys to use "
                    "(comma-separated, e.g. 'key1,key2')"
                )
            self.needs_headers = True
            self._extract = self._from_headers

    @property
    def disabled(self) -> bool:
        return self._extract is _no_key

    def __call__(self, stream_id: str, headers: Mapping[str, str]) -> bytes | None:
        return self._extract(stream_id, headers)

    def _from_stream_regex(self, stream_id: str, _headers: Mapping[str, str]) -> bytes | None:
        assert self._regex is not None
        match = self._regex.search(stream_id)  # RegexTimeout on a pathological pattern
        if match is not None:
            part: str | None = match.group(1) if self._regex.groups else match.group(0)
            if part is not None:
                return part.encode()
        self.fallbacks += 1
        return stream_id.encode()

    def _from_headers(self, stream_id: str, headers: Mapping[str, str]) -> bytes | None:
        values = [headers[n] for n in self._names if n in headers]
        if not values:
            self.fallbacks += 1
            return stream_id.encode()
        return "-".join(values).encode()


def _no_key(_stream_id: str, _headers: Mapping[str, str]) -> bytes | None:
    return None


def _stream_id(stream_id: str, _headers: Mapping[str, str]) -> bytes | None:
    return stream_id.encode()


def _stream_suffix(stream_id: str, _headers: Mapping[str, str]) -> bytes | None:
    _, dash, suffix = stream_id.rpartition("-")
    return (suffix if dash and suffix else stream_id).encode()
