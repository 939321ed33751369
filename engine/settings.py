"""Typed, read-only view of a sink's canonical settings.

The config loader produces canonical settings (flat keys in canonical spelling,
typed values, defaults applied). Everything at run time reads them through
``SinkSettings`` so no other module repeats key strings or parses TimeSpans.
The keys and defaults themselves live in the settings tables under ``schema/``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$")


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string ``[d.]hh:mm:ss[.fffffff]``."""
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float("0." + fraction) if fraction else 0.0)


@dataclass(frozen=True)
class SinkSettings:
    topic: str
    bootstrap_servers: str = "localhost:9092"
    default_headers: Mapping[str, str] = field(default_factory=dict)
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.PLAIN
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    partition_key_enabled: bool = False
    partition_key_source: PartitionKeySource = PartitionKeySource.PARTITION_KEY
    partition_key_expression: str = ""
    wait_for_broker_ack: bool = True
    resilience_enabled: bool = True
    max_retries: int = -1
    transient_error_delay_s: float = 0.0
    reconnect_backoff_max_ms: int = 20000
    message_send_max_retries: int = 2147483647
    request_timeout_ms: int = 30000
    broker_address_family: BrokerAddressFamily = BrokerAddressFamily.V4
    compression_type: CompressionType = CompressionType.ZSTD
    compression_level: int = 6
    filter_scope: FilterScope = FilterScope.UNSPECIFIED
    filter_type: FilterType = FilterType.UNSPECIFIED
    filter_expression: str = ""
    initial_position: InitialPosition = InitialPosition.LATEST
    transformer_enabled: bool = False
    transformer_function: str = ""
    autocommit_enabled: bool = True
    autocommit_interval_ms: int = 5000
    autocommit_records_threshold: int = 1000
    logging_enabled: bool = True
    headers_ignore_system: bool = True

    @classmethod
    def from_canonical(cls, settings: Mapping[str, Any]) -> SinkSettings:
        """Build from canonical settings; missing keys take the table defaults."""
        s = settings
        kwargs: dict[str, Any] = {"topic": s["topic"]}
        simple = {
            "bootstrapServers": "bootstrap_servers",
            "authentication:username": "username",
            "authentication:password": "password",
            "authentication:caFile": "ca_file",
            "partitionKeyExtraction:enabled": "partition_key_enabled",
            "partitionKeyExtraction:expression": "partition_key_expression",
            "waitForBrokerAck": "wait_for_broker_ack",
            "resilience:enabled": "resilience_enabled",
            "resilience:maxRetries": "max_retries",
            "resilience:reconnectBackoffMaxMs": "reconnect_backoff_max_ms",
            "resilience:messageSendMaxRetries": "message_send_max_retries",
            "resilience:requestTimeoutMs": "request_timeout_ms",
            "compression:level": "compression_level",
            "subscription:filter:expression": "filter_expression",
            "transformer:enabled": "transformer_enabled",
            "transformer:function": "transformer_function",
            "autocommit:enabled": "autocommit_enabled",
            "autocommit:interval": "autocommit_interval_ms",
            "autocommit:recordsThreshold": "autocommit_records_threshold",
            "logging:enabled": "logging_enabled",
            "headers:ignoreSystem": "headers_ignore_system",
        }
        for key, attr in simple.items():
            if key in s and s[key] is not None:
                kwargs[attr] = s[key]
        enums: dict[str, tuple[str, type[enum.Enum]]] = {
            "authentication:securityProtocol": ("security_protocol", SecurityProtocol),
            "authentication:saslMechanism": ("sasl_mechanism", SaslMechanism),
            "partitionKeyExtraction:source": ("partition_key_source", PartitionKeySource),
            "brokerAddressFamily": ("broker_address_family", BrokerAddressFamily),
            "compression:type": ("compression_type", CompressionType),
            "subscription:filter:scope": ("filter_scope", FilterScope),
            "subscription:filter:filterType": ("filter_type", FilterType),
            "subscription:initialPosition": ("initial_position", InitialPosition),
        }
        for key, (attr, kind) in enums.items():
            if key in s and s[key] is not None:
                kwargs[attr] = kind(s[key])
        if s.get("defaultHeaders"):
            kwargs["default_headers"] = dict(s["defaultHeaders"])
        if "resilience:transientErrorDelay" in s:
            kwargs["transient_error_delay_s"] = parse_timespan(s["resilience:transientErrorDelay"])
        return cls(**kwargs)
