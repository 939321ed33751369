"""Builders shared by the mapping tests."""

from __future__ import annotations

import base64
from typing import Any

from engine.specification.model import Record
from engine.specification.settings import SinkSettings


def settings(**canonical: Any) -> SinkSettings:
    """SinkSettings from canonical keys; ``a__b`` stands for ``a:b``."""
    values = {"topic": "out"}
    values.update({k.replace("__", ":"): v for k, v in canonical.items()})
    return SinkSettings.from_canonical(values)


def record(
    stream: str = "order-123",
    event_type: str = "OrderPlaced",
    data: bytes = b'{"region":"eu","total":12}',
    metadata: bytes = b"",
    *,
    is_json: bool = True,
    revision: int = 3,
    position: int = 4096,
    timestamp_ms: int = 1_700_000_000_123,
    record_id: str = "0b4bd0c6-8a2e-4c1e-9a57-2d3a1b7e9f10",
) -> Record:
    return Record(
        record_id=record_id,
        stream_id=stream,
        stream_revision=revision,
        log_position=position,
        timestamp_ms=timestamp_ms,
        schema_subject=event_type,
        is_json=is_json,
        value=data,
        metadata=metadata,
    )


def js(source: str) -> str:
    return base64.b64encode(source.encode()).decode()
