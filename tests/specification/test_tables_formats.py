"""``format `name``` in a settings table's Accepted values cell."""

from __future__ import annotations

from engine.specification.formats import FORMATS
from engine.specification.tables import parse_tables

HEADER = (
    "| Key | Type | Default | Required | Sensitive | Accepted values | Description |\n"
    "|---|---|---|---|---|---|---|\n"
)


def test_a_format_cell_names_the_setting_s_format() -> None:
    specs, problems = parse_tables(
        HEADER + "| `topic` | string | — | yes | no | format `kafka-topic` | T |\n", "t.md"
    )
    assert problems == []
    assert specs[0].format is FORMATS["kafka-topic"]
    assert specs[0].accepted == ()


def test_an_unknown_format_or_a_format_on_another_type_is_a_table_error() -> None:
    _, problems = parse_tables(
        HEADER
        + "| `a` | string | — | no | no | format `kafka-topik` | A |\n"
        + "| `b` | int | — | no | no | format `kafka-topic` | B |\n"
        + "| `c` | string | `no way` | no | no | format `host-port-list` | C |\n",
        "t.md",
    )
    assert [d.format() for d in problems] == [
        "t.md:3: error: a: unknown format 'kafka-topik'; known: kafka-topic, "
        "kafka-topic-template, host-port-list",
        "t.md:4: error: b: a int setting cannot have a format; only a string can",
        "t.md:5: error: c: default 'no way' is not a comma-separated list of host:port (port "
        "1..65535, an IPv6 address in brackets)",
    ]
