"""Second-pass rules: what a JSON Schema cannot say about one sink's settings.

Rules run on canonical settings (typed, defaults applied). Each rule names the keys
it reads and is skipped when one of them already failed (a bad value is reported
once, by the check that found it). Guarantees:

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
* ``instanceTypeName`` is ``kafka-sink``: the only kind of sink this engine runs.
* ``resilience:messageSendMaxRetries`` is at least 1 while ``waitForBrokerAck`` (the
  idempotent producer) is on; an enabled transformer compiles and defines
  ``transform`` in the JavaScript engine, as when the sink starts; a prefix or
  stream-name filter names at least one prefix or stream.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.specification.constants import EXACTLY_ONCE_MAX_WAIT_MS, TRANSACTION_TIMEOUT_MS
from engine.specification.model import Diagnostic, Location, Severity
from engine.specification.settings import (
    CompressionType,
    FilterType,
    PartitionKeySource,
    SecurityProtocol,
)


@dataclass(frozen=True)
class Finding:
    key: str
    message: str
    severity: Severity = Severity.ERROR
    # Where to point when ``key`` was not written: the setting that makes it needed.
    because: str | None = None


RuleBody = Callable[[Mapping[str, Any], frozenset[str]], Iterator[Finding]]

_SASL = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
_TLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
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
    reads: tuple[str, ...]  # the rule is skipped when one is absent or already failed
    optional: tuple[str, ...]  # may be absent; the rule is skipped when one failed
    body: RuleBody


RULES: list[Rule] = []


def _rule(*reads: str, optional: tuple[str, ...] = ()) -> Callable[[RuleBody], RuleBody]:
    def register(body: RuleBody) -> RuleBody:
        RULES.append(Rule(body.__name__.lstrip("_"), reads, optional, body))
        return body

    return register


def _error(key: str, message: str, because: str | None = None) -> Finding:
    return Finding(key, message, Severity.ERROR, because)


def _warning(key: str, message: str) -> Finding:
    return Finding(key, message, Severity.WARNING)


def _regex_error(key: str, expression: str) -> Iterator[Finding]:
    problem = _regex_problem(expression)
    if problem:
        yield _error(key, problem)


def _regex_problem(expression: str) -> str | None:
    # The engine's own regex engine (``regex``, with .NET-style named groups), imported
    # only when a sink has a regex.
    from engine.sandbox.regexes import regex_problem

    problem = regex_problem(expression)
    return f"not a valid regular expression: {problem}" if problem else None


@_rule(optional=("instanceTypeName",))
def _instance_type(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    value = s.get("instanceTypeName")
    if value is not None and value != INSTANCE_TYPE:
        yield _error(
            "instanceTypeName",
            f"{value!r} is not supported: this engine runs only {INSTANCE_TYPE} sinks",
        )


@_rule("subscription:filter:filterType", "subscription:filter:expression")
def _filter_expression(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    kind = FilterType(s["subscription:filter:filterType"])
    expression = s["subscription:filter:expression"]
    key = "subscription:filter:expression"
    if kind is FilterType.REGEX and expression:
        yield from _regex_error(key, expression)
    elif kind is FilterType.JSON_PATH:
        if not expression:
            yield _error(
                key,
                "a JsonPath filter needs a JSONPath query as its expression",
                because="subscription:filter:filterType",
            )
            return
        # Imported here: the package pulls in `regex`, which costs ~200 ms of every
        # cold `sinks validate` even when no sink uses a JSONPath filter.
        from engine.config.jsonpath_syntax import syntax_error

        reason = syntax_error(expression)
        if reason is not None:
            yield _error(key, f"not a valid JSONPath (RFC 9535) query: {reason}")


@_rule(
    "partitionKeyExtraction:enabled",
    "partitionKeyExtraction:source",
    "partitionKeyExtraction:expression",
)
def _partition_key(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    if not s["partitionKeyExtraction:enabled"]:
        return
    source = PartitionKeySource(s["partitionKeyExtraction:source"])
    expression = s["partitionKeyExtraction:expression"]
    key = "partitionKeyExtraction:expression"
    if source is PartitionKeySource.STREAM and expression:
        yield from _regex_error(key, expression)
    elif source is PartitionKeySource.HEADERS:
        names = [n.strip() for n in expression.split(",")]
        if not expression.strip():
            yield _error(
                key,
                "the Headers source needs a comma-separated list of header names",
                because="partitionKeyExtraction:source",
            )
        elif not all(names):
            yield _error(key, f"empty header name in {expression!r}")


@_rule("transformer:enabled", "transformer:function")
def _transformer(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    if not s["transformer:enabled"]:
        return
    key, function = "transformer:function", s["transformer:function"]
    if not function.strip():
        yield _error(key, "required when transformer:enabled is true", "transformer:enabled")
        return
    try:
        base64.b64decode(function.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        yield _error(key, f"not valid base64 of JavaScript source: {reason}")


@_rule(
    "authentication:securityProtocol",
    "authentication:saslMechanism",
    optional=("authentication:username", "authentication:password", "authentication:caFile"),
)
def _authentication(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    protocol = SecurityProtocol(s["authentication:securityProtocol"])
    if protocol in _SASL:
        for part in ("username", "password"):
            if not s.get(f"authentication:{part}"):
                yield _error(
                    f"authentication:{part}",
                    f"required when authentication:securityProtocol is {protocol.value}",
                    because="authentication:securityProtocol",
                )
    elif "authentication:saslMechanism" in explicit:
        yield _warning(
            "authentication:saslMechanism",
            f"has no effect: authentication:securityProtocol is {protocol.value}, "
            "not a SASL protocol",
        )
    if protocol not in _TLS and s.get("authentication:caFile"):
        yield _warning(
            "authentication:caFile",
            f"has no effect: authentication:securityProtocol is {protocol.value}, "
            "which uses no TLS",
        )


@_rule("compression:type", "compression:level")
def _compression_level(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    if "compression:level" not in explicit:
        return
    codec, level = CompressionType(s["compression:type"]), s["compression:level"]
    if codec is CompressionType.NONE:
        yield _warning("compression:level", "has no effect: compression:type is None")
        return
    low, high = COMPRESSION_LEVELS[codec]
    if level != -1 and not low <= level <= high:
        accepted = f"{low}..{high}" if low != high else f"{low}"
        yield _error(
            "compression:level",
            f"{level} is out of range for {codec.value}: use {accepted}, "
            "or -1 for the codec's default",
        )


def check(
    settings: Mapping[str, Any],
    *,
    explicit: frozenset[str],
    where: Callable[[str], Location | None],
    skip: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """Every rule's findings as diagnostics.

    A rule does not run when a key it reads is in ``skip`` (already reported) or absent.
    ``where(key)`` gives a written key's location.
    """
    found: list[Diagnostic] = []
    for rule in RULES:
        if skip.intersection(rule.reads + rule.optional) or not all(
            k in settings for k in rule.reads
        ):
            continue
        for f in rule.body(settings, explicit):
            at = f.because if f.because is not None and f.key not in explicit else f.key
            found.append(Diagnostic(where(at), f.message, key=f.key, severity=f.severity))
    return found


@_rule("resilience:messageSendMaxRetries", "waitForBrokerAck")
def _idempotent_retries(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    # waitForBrokerAck turns on the idempotent producer, which librdkafka refuses to
    # create without retries (`retries` must be set >= 1 when `enable.idempotence`).
    if s["waitForBrokerAck"] and s["resilience:messageSendMaxRetries"] < 1:
        yield _error(
            "resilience:messageSendMaxRetries",
            "must be at least 1 while waitForBrokerAck is true (the idempotent producer "
            "needs retries); set waitForBrokerAck: false to send without retries",
            because="waitForBrokerAck",
        )


@_rule("transformer:enabled", "transformer:function")
def _transformer_compiles(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    function = s["transformer:function"].strip()
    if not s["transformer:enabled"] or not function:
        return
    try:
        base64.b64decode(function, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return  # reported by the base64 rule above
    # Imported here: V8 is loaded only when a sink has a transformer.
    from engine.sandbox.transformer import source_problem

    problem = source_problem(function)
    if problem is not None:
        yield _error("transformer:function", problem)


@_rule("subscription:filter:filterType", "subscription:filter:expression")
def _filter_names(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    # A prefix or stream-name list that is only commas and spaces: the engine would
    # refuse to start (Prefix) or, for StreamId, match every stream.
    kind, expression = s["subscription:filter:filterType"], s["subscription:filter:expression"]
    if kind not in ("Unspecified", "Prefix", "StreamId") or not expression.strip():
        return
    if all(not part.strip() for part in expression.split(",")):
        yield _error(
            "subscription:filter:expression",
            f"{expression!r} holds no stream name or prefix, only commas and spaces",
        )


@_rule("errors:tolerance", optional=("errors:deadLetterTopic",))
def _dead_letter_topic(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    topic = s.get("errors:deadLetterTopic")
    if s["errors:tolerance"] == "deadLetter":
        if not topic:
            yield _error(
                "errors:deadLetterTopic",
                "required when errors:tolerance is deadLetter",
                because="errors:tolerance",
            )
        elif topic == s.get("topic"):
            yield _error(
                "errors:deadLetterTopic",
                f"{topic!r} is the sink's own topic: poison events need a topic of their own",
            )
    elif topic:
        yield _warning(
            "errors:deadLetterTopic",
            f"has no effect: errors:tolerance is {s['errors:tolerance']}, not deadLetter",
        )


@_rule(
    "delivery:guarantee",
    "waitForBrokerAck",
    "autocommit:enabled",
    "autocommit:interval",
    "resilience:requestTimeoutMs",
)
def _exactly_once(s: Mapping[str, Any], explicit: frozenset[str]) -> Iterator[Finding]:
    # Each Kafka transaction carries the sink's checkpoint and commits with it: no
    # transactions without an idempotent producer, and none without checkpoints.
    if s["delivery:guarantee"] != "exactlyOnce":
        return
    need = "required by delivery:guarantee exactlyOnce"
    if not s["waitForBrokerAck"]:
        yield _error(
            "waitForBrokerAck",
            f"must be true: {need} (transactions need the idempotent producer)",
            because="delivery:guarantee",
        )
    if not s["autocommit:enabled"]:
        yield _error(
            "autocommit:enabled",
            f"must be true: {need} (each transaction commits with its checkpoint)",
            because="delivery:guarantee",
        )
    longest = EXACTLY_ONCE_MAX_WAIT_MS
    for key, what in (
        ("autocommit:interval", "a transaction stays open"),
        ("resilience:requestTimeoutMs", "the producer waits for a broker"),
    ):
        if s[key] > longest:
            yield _error(
                key,
                f"must be at most {longest} with delivery:guarantee exactlyOnce, got "
                f"{s[key]}: {what} this long, and the broker aborts a transaction after "
                f"{TRANSACTION_TIMEOUT_MS} ms",
                because="delivery:guarantee",
            )
