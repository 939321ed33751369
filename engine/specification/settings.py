"""A sink's typed settings, one attribute per setting of the settings tables.

The config loader (``engine.config.canonical``) builds one ``SinkSettings`` per sink
when its file is loaded, from the canonical settings (flat keys in canonical
spelling, defaults applied), and keeps it on the ``SinkDefinition``. The rules, the
runtime, the commands and the status read those attributes (enums, seconds), so no
other module repeats key strings, compares enum spellings or parses TimeSpans.

Guarantees: each attribute names its table key once (``SETTING_KEYS`` maps attribute
to key); its default is the table's default (read from ``schema/*.md`` when this
module is imported); each enum's values are the table's accepted values, in order,
or the import fails with ``SettingsTableMismatch``. TimeSpans go through
``engine.specification.timespan``, the one parser.
"""

# ruff: noqa: RUF009 - each field's default is the settings table's, read once at import
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from types import MappingProxyType
from typing import Any

from engine.specification.errors import EngineError
from engine.specification.tables import SettingType, load_catalogue
from engine.specification.timespan import parse_timespan
from engine.specification.topics import TopicTemplate, parse_topic


class SecurityProtocol(enum.Enum):
    PLAINTEXT = "Plaintext"
    SSL = "Ssl"
    SASL_PLAINTEXT = "SaslPlaintext"
    SASL_SSL = "SaslSsl"


class SaslMechanism(enum.Enum):
    PLAIN = "Plain"
    SCRAM_SHA_256 = "ScramSha256"
    SCRAM_SHA_512 = "ScramSha512"


class CompressionType(enum.Enum):
    NONE = "None"
    GZIP = "Gzip"
    SNAPPY = "Snappy"
    LZ4 = "Lz4"
    ZSTD = "Zstd"


class BrokerAddressFamily(enum.Enum):
    ANY = "Any"
    V4 = "V4"
    V6 = "V6"


class PartitionKeySource(enum.Enum):
    PARTITION_KEY = "PartitionKey"
    STREAM = "Stream"
    STREAM_SUFFIX = "StreamSuffix"
    HEADERS = "Headers"


class FilterScope(enum.Enum):
    UNSPECIFIED = "Unspecified"
    STREAM = "Stream"
    RECORD = "Record"


class FilterType(enum.Enum):
    UNSPECIFIED = "Unspecified"
    STREAM_ID = "StreamId"
    REGEX = "Regex"
    PREFIX = "Prefix"
    JSON_PATH = "JsonPath"


class InitialPosition(enum.Enum):
    LATEST = "Latest"
    EARLIEST = "Earliest"


class ErrorTolerance(enum.Enum):
    """What a sink does with a poison event (``errors:tolerance``, this engine's own)."""

    FAIL = "fail"
    SKIP = "skip"
    DEAD_LETTER = "deadLetter"


class DeliveryGuarantee(enum.Enum):
    """How often a consumer sees each event (``delivery:guarantee``, this engine's own)."""

    AT_LEAST_ONCE = "atLeastOnce"
    EXACTLY_ONCE = "exactlyOnce"


class SettingsTableMismatch(EngineError):
    """The code's view of a setting disagrees with the settings tables."""


def _setting(key: str, kind: type[enum.Enum] | None = None, *, absent_ok: bool = False) -> Any:
    """A dataclass field for canonical setting ``key``, with the table's default.

    ``absent_ok``: a required setting that settings built by hand may leave out (None).
    """
    spec = load_catalogue()[key]
    if kind is not None and tuple(m.value for m in kind) != spec.accepted:
        raise SettingsTableMismatch(
            f"{kind.__name__} lists {[m.value for m in kind]}, "
            f"the table row for {key} accepts {list(spec.accepted)}"
        )
    metadata = {"key": key, "kind": kind, "type": spec.type}
    if not spec.has_default:
        if spec.required and not absent_ok:
            return field(metadata=metadata)
        return field(default=None, metadata=metadata)
    if isinstance(spec.default, dict):
        return field(default_factory=lambda: dict(spec.default), metadata=metadata)
    default = spec.default
    if kind is not None:
        default = kind(default)
    elif spec.type is SettingType.TIMESPAN:
        default = _seconds(default)
    return field(default=default, metadata=metadata)


def _seconds(text: str) -> float:
    parsed = parse_timespan(text)
    if parsed is None:
        raise ValueError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    return parsed.total_seconds


@dataclass(frozen=True)
class Authentication:
    """How a Kafka client authenticates: a sink's ``authentication`` settings, which the
    coordination cluster of a group (``engine.specification.connection``) takes too."""

    security_protocol: SecurityProtocol = _setting(
        "authentication:securityProtocol", SecurityProtocol
    )
    sasl_mechanism: SaslMechanism = _setting("authentication:saslMechanism", SaslMechanism)
    username: str | None = _setting("authentication:username")
    password: str | None = _setting("authentication:password")
    ca_file: str | None = _setting("authentication:caFile")


# Keyword-only: the inherited authentication fields have defaults, ``topic`` has none.
@dataclass(frozen=True, kw_only=True)
class SinkSettings(Authentication):
    """One attribute per setting the runtime reads; keys and defaults from the tables."""

    topic: str = _setting("topic")
    # Always written in a loaded file; only the loader's rules read it.
    instance_type: str | None = _setting("instanceTypeName", absent_ok=True)
    bootstrap_servers: str = _setting("bootstrapServers")
    default_headers: Mapping[str, str] = _setting("defaultHeaders")
    partition_key_enabled: bool = _setting("partitionKeyExtraction:enabled")
    partition_key_source: PartitionKeySource = _setting(
        "partitionKeyExtraction:source", PartitionKeySource
    )
    partition_key_expression: str = _setting("partitionKeyExtraction:expression")
    wait_for_broker_ack: bool = _setting("waitForBrokerAck")
    resilience_enabled: bool = _setting("resilience:enabled")
    max_retries: int = _setting("resilience:maxRetries")
    transient_error_delay_s: float = _setting("resilience:transientErrorDelay")
    reconnect_backoff_max_ms: int = _setting("resilience:reconnectBackoffMaxMs")
    message_send_max_retries: int = _setting("resilience:messageSendMaxRetries")
    request_timeout_ms: int = _setting("resilience:requestTimeoutMs")
    broker_address_family: BrokerAddressFamily = _setting(
        "brokerAddressFamily", BrokerAddressFamily
    )
    compression_type: CompressionType = _setting("compression:type", CompressionType)
    compression_level: int = _setting("compression:level")
    filter_scope: FilterScope = _setting("subscription:filter:scope", FilterScope)
    filter_type: FilterType = _setting("subscription:filter:filterType", FilterType)
    filter_expression: str = _setting("subscription:filter:expression")
    initial_position: InitialPosition = _setting("subscription:initialPosition", InitialPosition)
    transformer_enabled: bool = _setting("transformer:enabled")
    transformer_function: str = _setting("transformer:function")
    autocommit_enabled: bool = _setting("autocommit:enabled")
    autocommit_interval_ms: int = _setting("autocommit:interval")
    autocommit_records_threshold: int = _setting("autocommit:recordsThreshold")
    logging_enabled: bool = _setting("logging:enabled")
    headers_ignore_system: bool = _setting("headers:ignoreSystem")
    cloud_events: bool = _setting("headers:cloudEvents")
    cloud_events_source: str = _setting("headers:cloudEventsSource")
    traceparent: bool = _setting("headers:traceparent")
    topics_create: bool = _setting("topics:create")
    topic_partitions: int = _setting("topics:partitions")
    topic_replication_factor: int = _setting("topics:replicationFactor")
    topic_config: Mapping[str, str] = _setting("topics:config")
    error_tolerance: ErrorTolerance = _setting("errors:tolerance", ErrorTolerance)
    dead_letter_topic: str | None = _setting("errors:deadLetterTopic")
    guarantee: DeliveryGuarantee = _setting("delivery:guarantee", DeliveryGuarantee)

    @property
    def exactly_once(self) -> bool:
        return self.guarantee is DeliveryGuarantee.EXACTLY_ONCE

    @cached_property
    def topic_template(self) -> TopicTemplate:
        """``topic`` read as a template (``TopicError`` if it is not one: the loader's
        rules refuse such a file first)."""
        return parse_topic(self.topic)

    @classmethod
    def from_canonical(cls, settings: Mapping[str, Any], *, partial: bool = False) -> SinkSettings:
        """Build from canonical settings; missing keys take the table defaults.

        The loader calls this once per sink. ``partial``: the settings of a sink with
        errors, for the rules to look at; a missing required setting is None there
        (the rules that read a failed setting do not run).
        """
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = settings.get(f.metadata["key"])
            if value is None:
                continue
            kind = f.metadata["kind"]
            if kind is not None:
                value = kind(value)
            elif f.metadata["type"] is SettingType.TIMESPAN:
                value = _seconds(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            kwargs[f.name] = value
        if partial:
            kwargs = {**dict.fromkeys(_REQUIRED), **kwargs}
        return cls(**kwargs)


SETTING_KEYS: Mapping[str, str] = MappingProxyType(
    {f.name: f.metadata["key"] for f in fields(SinkSettings)}
)
"""Attribute name → canonical key, for messages and locations."""

FIELD_OF: Mapping[str, str] = MappingProxyType({k: n for n, k in SETTING_KEYS.items()})
"""Canonical key → attribute name."""

_REQUIRED = frozenset(
    f.name for f in fields(SinkSettings) if f.default is MISSING and f.default_factory is MISSING
)
