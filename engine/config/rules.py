"""Second-pass rules: what a JSON Schema cannot say about one sink's settings.

Rules run on the sink's typed settings (``SinkSettings``, defaults applied), built
once by the loader; they compare enums and numbers, never key strings. Each rule
names the attributes it reads and is skipped when the setting behind one of them
already failed (a bad value is reported once, by the check that found it). A
finding names an attribute; ``check`` turns it into the setting's key and the
line:col where the file wrote it. Guarantees:

* Regular expressions the engine will compile (a ``Regex`` filter, a ``Stream``
  partition-key expression) compile with the ``regex`` package, which the engine
  uses (``engine.sandbox.regexes``).
* A ``JsonPath`` filter parses as an RFC 9535 query.
* An enabled transformer has a function that is valid base64 of UTF-8 text.
* The SASL protocols have a username and a password; the ``Headers`` partition-key
  source has header names.
* An explicit ``compression:level`` lies in the range of the chosen codec, as the
  Kafka client documents them: -1 (codec default) or Gzip 0..9, Lz4 0..12,
  Zstd 0..12 (the client caps zstd's own 1..22 scale at 12), Snappy 0 only.
  The default level (6) is not checked: the client ignores levels a codec lacks.
* ``topic`` and ``headers:cloudEventsSource`` read as templates
  (``engine.specification.topics``): known placeholders only (with a did-you-mean),
  closed braces, and for ``topic`` a plain name Kafka accepts when it has none.
* ``instanceTypeName`` is ``kafka-sink``: the only kind of sink this engine runs.
* ``resilience:messageSendMaxRetries`` is at least 1 while ``waitForBrokerAck`` (the
  idempotent producer) is on; an enabled transformer compiles and defines
  ``transform`` in the JavaScript engine, as when the sink starts; a prefix or
  stream-name filter names at least one prefix or stream.
* ``topics:partitions`` and ``topics:replicationFactor`` are -1 or at least 1; the
  ``topics:*`` settings other than ``create`` warn when ``topics:create`` is off.
* ``errors:tolerance: deadLetter`` has an ``errors:deadLetterTopic``, other than the
  sink's own topic.
* ``delivery:guarantee: exactlyOnce`` has ``waitForBrokerAck`` and ``autocommit``
  on, and an ``autocommit:interval`` and ``resilience:requestTimeoutMs`` of at most
  half the transaction timeout.

Settings that have no effect in the configuration given produce warnings.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.config.suggest import did_you_mean
from engine.specification.constants import EXACTLY_ONCE_MAX_WAIT_MS, TRANSACTION_TIMEOUT_MS
from engine.specification.model import Diagnostic, Location, Severity
from engine.specification.settings import (
    FIELD_OF,
    SETTING_KEYS,
    CompressionType,
    ErrorTolerance,
    FilterType,
    PartitionKeySource,
    SecurityProtocol,
    SinkSettings,
)
from engine.specification.topics import KNOWN, TopicError, parse_text, parse_topic


@dataclass(frozen=True)
class Finding:
    field: str  # the SinkSettings attribute the finding is about
    message: str
    severity: Severity = Severity.ERROR
    # Where to point when ``field`` was not written: the setting that makes it needed.
    because: str | None = None


# The settings a rule sees and the attributes the user wrote.
RuleBody = Callable[[SinkSettings, frozenset[str]], Iterator[Finding]]

_SASL = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
_TLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
# Stream-name or prefix lists (Unspecified reads its expression as prefixes).
_NAME_LISTS = (FilterType.UNSPECIFIED, FilterType.PREFIX, FilterType.STREAM_ID)
# (lowest, highest) accepted explicit level per codec, besides -1 (the codec's default).
COMPRESSION_LEVELS: dict[CompressionType, tuple[int, int]] = {
    CompressionType.GZIP: (0, 9),
    CompressionType.LZ4: (0, 12),
    CompressionType.ZSTD: (0, 12),
    CompressionType.SNAPPY: (0, 0),
}
INSTANCE_TYPE = "kafka-sink"


@dataclass(frozen=True)
class Rule:
    name: str
    reads: tuple[str, ...]  # attributes; the rule is skipped when one's setting failed
    body: RuleBody

    @property
    def keys(self) -> tuple[str, ...]:
        """The canonical keys of the settings the rule reads."""
        return tuple(SETTING_KEYS[name] for name in self.reads)


RULES: list[Rule] = []


def _rule(*reads: str) -> Callable[[RuleBody], RuleBody]:
    unknown = set(reads) - SETTING_KEYS.keys()
    if unknown:  # a misspelt attribute would silently never skip the rule
        raise ValueError(f"rules read attributes SinkSettings lacks: {sorted(unknown)}")

    def register(body: RuleBody) -> RuleBody:
        RULES.append(Rule(body.__name__.lstrip("_"), reads, body))
        return body

    return register


def _error(name: str, message: str, because: str | None = None) -> Finding:
    return Finding(name, message, Severity.ERROR, because)


def _warning(name: str, message: str) -> Finding:
    return Finding(name, message, Severity.WARNING)


def _regex_error(name: str, expression: str) -> Iterator[Finding]:
    problem = _regex_problem(expression)
    if problem:
        yield _error(name, problem)


def _regex_problem(expression: str) -> str | None:
    # The engine's own regex engine (``regex``, with .NET-style named groups), imported
    # only when a sink has a regex.
    from engine.sandbox.regexes import regex_problem

    problem = regex_problem(expression)
    return f"not a valid regular expression: {problem}" if problem else None


@_rule("instance_type")
def _instance_type(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    value = s.instance_type
    if value is not None and value != INSTANCE_TYPE:
        yield _error(
            "instance_type",
            f"{value!r} is not supported: this engine runs only {INSTANCE_TYPE} sinks",
        )


@_rule("filter_type", "filter_expression")
def _filter_expression(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    kind, expression = s.filter_type, s.filter_expression
    if kind is FilterType.REGEX and expression:
        yield from _regex_error("filter_expression", expression)
    elif kind is FilterType.JSON_PATH:
        if not expression:
            yield _error(
                "filter_expression",
                "a JsonPath filter needs a JSONPath query as its expression",
                because="filter_type",
            )
            return
        # Imported here: the package pulls in `regex`, which costs ~200 ms of every
        # cold `sinks validate` even when no sink uses a JSONPath filter.
        from engine.config.jsonpath_syntax import syntax_error

        reason = syntax_error(expression)
        if reason is not None:
            yield _error("filter_expression", f"not a valid JSONPath (RFC 9535) query: {reason}")


@_rule("partition_key_enabled", "partition_key_source", "partition_key_expression")
def _partition_key(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    if not s.partition_key_enabled:
        return
    source, expression = s.partition_key_source, s.partition_key_expression
    if source is PartitionKeySource.STREAM and expression:
        yield from _regex_error("partition_key_expression", expression)
    elif source is PartitionKeySource.HEADERS:
        names = [n.strip() for n in expression.split(",")]
        if not expression.strip():
            yield _error(
                "partition_key_expression",
                "the Headers source needs a comma-separated list of header names",
                because="partition_key_source",
            )
        elif not all(names):
            yield _error("partition_key_expression", f"empty header name in {expression!r}")


@_rule("transformer_enabled", "transformer_function")
def _transformer(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    if not s.transformer_enabled:
        return
    function = s.transformer_function
    if not function.strip():
        yield _error(
            "transformer_function",
            "required when transformer:enabled is true",
            "transformer_enabled",
        )
        return
    try:
        base64.b64decode(function.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        yield _error("transformer_function", f"not valid base64 of JavaScript source: {reason}")


@_rule("security_protocol", "sasl_mechanism", "username", "password", "ca_file")
def _authentication(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    protocol = s.security_protocol
    if protocol in _SASL:
        for name, value in (("username", s.username), ("password", s.password)):
            if not value:
                yield _error(
                    name,
                    f"required when authentication:securityProtocol is {protocol.value}",
                    because="security_protocol",
                )
    elif "sasl_mechanism" in written:
        yield _warning(
            "sasl_mechanism",
            f"has no effect: authentication:securityProtocol is {protocol.value}, "
            "not a SASL protocol",
        )
    if protocol not in _TLS and s.ca_file:
        yield _warning(
            "ca_file",
            f"has no effect: authentication:securityProtocol is {protocol.value}, "
            "which uses no TLS",
        )


@_rule("compression_type", "compression_level")
def _compression_level(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    if "compression_level" not in written:
        return
    codec, level = s.compression_type, s.compression_level
    if codec is CompressionType.NONE:
        yield _warning("compression_level", "has no effect: compression:type is None")
        return
    low, high = COMPRESSION_LEVELS[codec]
    if level != -1 and not low <= level <= high:
        accepted = f"{low}..{high}" if low != high else f"{low}"
        yield _error(
            "compression_level",
            f"{level} is out of range for {codec.value}: use {accepted}, "
            "or -1 for the codec's default",
        )


def check(
    settings: SinkSettings,
    *,
    explicit: frozenset[str],
    where: Callable[[str], Location | None],
    skip: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """Every rule's findings as diagnostics.

    ``explicit`` and ``skip`` are canonical keys: the ones written, and the ones
    already reported (a rule reading one does not run). ``where(key)`` gives a
    written key's location.
    """
    written = frozenset(FIELD_OF[k] for k in explicit if k in FIELD_OF)
    failed = frozenset(FIELD_OF[k] for k in skip if k in FIELD_OF)
    found: list[Diagnostic] = []
    for rule in RULES:
        if failed.intersection(rule.reads):
            continue
        for f in rule.body(settings, written):
            at = f.because if f.because is not None and f.field not in written else f.field
            found.append(
                Diagnostic(
                    where(SETTING_KEYS[at]),
                    f.message,
                    key=SETTING_KEYS[f.field],
                    severity=f.severity,
                )
            )
    return found


@_rule("message_send_max_retries", "wait_for_broker_ack")
def _idempotent_retries(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    # waitForBrokerAck turns on the idempotent producer, which librdkafka refuses to
    # create without retries (`retries` must be set >= 1 when `enable.idempotence`).
    if s.wait_for_broker_ack and s.message_send_max_retries < 1:
        yield _error(
            "message_send_max_retries",
            "must be at least 1 while waitForBrokerAck is true (the idempotent producer "
            "needs retries); set waitForBrokerAck: false to send without retries",
            because="wait_for_broker_ack",
        )


@_rule("transformer_enabled", "transformer_function")
def _transformer_compiles(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    function = s.transformer_function.strip()
    if not s.transformer_enabled or not function:
        return
    try:
        base64.b64decode(function, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return  # reported by the base64 rule above
    # Imported here: V8 is loaded only when a sink has a transformer.
    from engine.sandbox.transformer import source_problem

    problem = source_problem(function)
    if problem is not None:
        yield _error("transformer_function", problem)


@_rule("filter_type", "filter_expression")
def _filter_names(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    # A prefix or stream-name list that is only commas and spaces: the engine would
    # refuse to start (Prefix) or, for StreamId, match every stream.
    expression = s.filter_expression
    if s.filter_type not in _NAME_LISTS or not expression.strip():
        return
    if all(not part.strip() for part in expression.split(",")):
        yield _error(
            "filter_expression",
            f"{expression!r} holds no stream name or prefix, only commas and spaces",
        )


def _template_error(exc: TopicError) -> str:
    """The message of a template that does not read, with a did-you-mean placed before
    the list of placeholders ("unknown placeholder '{x}' (did you mean …); the …")."""
    message = str(exc)
    if exc.unknown is not None:
        hint = did_you_mean(f"{{{exc.unknown}}}", [f"{{{k}}}" for k in KNOWN])
        if hint:
            head, _, tail = message.partition(";")
            message = f"{head}{hint};{tail}"
    return message


@_rule("topic")
def _topic(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    try:
        parse_topic(s.topic)
    except TopicError as exc:
        yield _error("topic", _template_error(exc))


@_rule("cloud_events", "cloud_events_source")
def _cloud_events_source(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    try:
        parse_text(s.cloud_events_source)
    except TopicError as exc:
        yield _error("cloud_events_source", _template_error(exc))
        return
    if "cloud_events_source" in written and not s.cloud_events:
        yield _warning("cloud_events_source", "has no effect: headers:cloudEvents is false")


@_rule("topics_create", "topic_partitions", "topic_replication_factor", "topic_config")
def _topic_provisioning(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    zero = {
        name
        for name, value in (
            ("topic_partitions", s.topic_partitions),
            ("topic_replication_factor", s.topic_replication_factor),
        )
        if value == 0
    }
    for name in sorted(zero):
        yield _error(name, "must be -1 (the broker's default) or at least 1, got 0")
    if not s.topics_create:
        for name in ("topic_partitions", "topic_replication_factor", "topic_config"):
            if name in written and name not in zero:
                yield _warning(name, "has no effect: topics:create is false")


@_rule("error_tolerance", "dead_letter_topic")
def _dead_letter_topic(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    topic = s.dead_letter_topic
    if s.error_tolerance is ErrorTolerance.DEAD_LETTER:
        if not topic:
            yield _error(
                "dead_letter_topic",
                "required when errors:tolerance is deadLetter",
                because="error_tolerance",
            )
        elif topic == s.topic:
            yield _error(
                "dead_letter_topic",
                f"{topic!r} is the sink's own topic: poison events need a topic of their own",
            )
    elif topic:
        yield _warning(
            "dead_letter_topic",
            f"has no effect: errors:tolerance is {s.error_tolerance.value}, not deadLetter",
        )


@_rule(
    "guarantee",
    "wait_for_broker_ack",
    "autocommit_enabled",
    "autocommit_interval_ms",
    "request_timeout_ms",
)
def _exactly_once(s: SinkSettings, written: frozenset[str]) -> Iterator[Finding]:
    # Each Kafka transaction carries the sink's checkpoint and commits with it: no
    # transactions without an idempotent producer, and none without checkpoints.
    if not s.exactly_once:
        return
    need = "required by delivery:guarantee exactlyOnce"
    if not s.wait_for_broker_ack:
        yield _error(
            "wait_for_broker_ack",
            f"must be true: {need} (transactions need the idempotent producer)",
            because="guarantee",
        )
    if not s.autocommit_enabled:
        yield _error(
            "autocommit_enabled",
            f"must be true: {need} (each transaction commits with its checkpoint)",
            because="guarantee",
        )
    longest = EXACTLY_ONCE_MAX_WAIT_MS
    for name, value, what in (
        ("autocommit_interval_ms", s.autocommit_interval_ms, "a transaction stays open"),
        ("request_timeout_ms", s.request_timeout_ms, "the producer waits for a broker"),
    ):
        if value > longest:
            yield _error(
                name,
                f"must be at most {longest} with delivery:guarantee exactlyOnce, got "
                f"{value}: {what} this long, and the broker aborts a transaction after "
                f"{TRANSACTION_TIMEOUT_MS} ms",
                because="guarantee",
            )
