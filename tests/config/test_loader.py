"""Loading sinks.d/: every file's errors at once, cross-file checks, refusals, templates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config.loader import load_directory, load_file, masked_settings, masked_written
from engine.specification.model import Location, Severity
from engine.specification.settings import CompressionType, FilterScope, SinkSettings

ORDERS = """\
name: orders
description: Orders to Kafka
labels:
  team: checkout
settings:
  instanceTypeName: kafka-sink
  topic: orders
  bootstrapServers: localhost:9092
  subscription:
    filter:
      scope: stream
      expression: example-stream
  compression:
    type: zstd
"""


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            target.write_bytes(body)
        else:
            target.write_text(body)
    return root


@pytest.fixture
def in_tmp(tmp_path: Path) -> Path:
    """Run from tmp_path so paths print as sinks.d/<file>, as users see them."""
    before = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


def formatted(result: object) -> list[str]:
    return [d.format() for d in result.diagnostics]  # type: ignore[attr-defined]


def test_a_valid_sink(in_tmp: Path) -> None:
    write(in_tmp / "sinks.d", {"orders.yaml": ORDERS})
    result = load_directory("sinks.d")
    assert result.ok, formatted(result)
    (sink,) = result.definitions
    assert sink.name == "orders"
    assert sink.source_file == "sinks.d/orders.yaml"
    assert sink.description == "Orders to Kafka"
    assert dict(sink.labels) == {"team": "checkout"}
    assert sink.enabled is True
    assert sink.canonical["compression:type"] == "Zstd"
    assert sink.canonical["subscription:filter:scope"] == "Stream"
    # The typed settings, built once by the loader: enums and numbers, not spellings.
    assert sink.settings.compression_type is CompressionType.ZSTD
    assert sink.settings.filter_scope is FilterScope.STREAM
    assert sink.settings == SinkSettings.from_canonical(sink.canonical)
    assert "topic" in sink.explicit and "autocommit:interval" not in sink.explicit
    assert sink.locations["compression:type"] == Location("sinks.d/orders.yaml", 14, 11)
    written = result.files[0].written["orders"]
    assert written["subscription:filter:scope"] == "stream"  # spelt as written
    assert written["compression:type"] == "zstd"


def test_every_file_reports_and_a_broken_file_hides_nothing(in_tmp: Path) -> None:
    write(
        in_tmp / "sinks.d",
        {
            "a-broken-yaml.yaml": "name: a\nsettings: [\n",
            "b-bad-enum.yaml": ORDERS.replace("orders", "b").replace("zstd", "zsdt"),
            "c-good.yml": ORDERS.replace("name: orders", "name: c"),
            "d-unknown-key.yaml": "name: d\nsetings:\n  topic: x\n",
            "e-binary.yaml": b"\x00\x01\x02",
            "sub/f-list.yaml": "- name: f\n",
        },
    )
    result = load_directory("sinks.d")
    assert [s.name for s in result.definitions] == ["c"]
    assert [f.ok for f in result.files] == [False, False, True, False, False, False]
    text = formatted(result)
    assert text[0].startswith("sinks.d/a-broken-yaml.yaml:3:1: error: invalid YAML:")
    assert (
        "sinks.d/b-bad-enum.yaml:14:11: error: compression:type: 'zsdt' is not one of None, "
        "Gzip, Snappy, Lz4, Zstd (did you mean 'Zstd'?)" in text
    )
    assert (
        "sinks.d/d-unknown-key.yaml:2:1: error: unknown key 'setings' (did you mean 'settings'?)"
        in text
    )
    assert "sinks.d/e-binary.yaml: error: binary file (contains NUL bytes)" in text
    assert (
        "sinks.d/sub/f-list.yaml:1:1: error: a sink document must be a mapping, not a list" in text
    )


def test_duplicate_names_across_files_name_both(in_tmp: Path) -> None:
    write(
        in_tmp / "sinks.d",
        {"a.yaml": ORDERS, "b.yaml": "# other\n" + ORDERS, "c.yaml": ORDERS.replace("orders", "c")},
    )
    result = load_directory("sinks.d")
    assert formatted(result) == [
        "sinks.d/a.yaml:1:7: error: name: duplicate sink name 'orders' "
        "(also defined at sinks.d/b.yaml:2:7)",
        "sinks.d/b.yaml:2:7: error: name: duplicate sink name 'orders' "
        "(also defined at sinks.d/a.yaml:1:7)",
    ]
    assert [s.name for s in result.definitions] == ["c"]


def test_duplicate_names_in_one_file(in_tmp: Path) -> None:
    write(in_tmp / "sinks.d", {"a.yaml": ORDERS + "---\n" + ORDERS})
    assert formatted(load_directory("sinks.d")) == [
        "sinks.d/a.yaml:16:7: error: name: duplicate sink name 'orders' "
        "(also defined at sinks.d/a.yaml:1:7)"
    ]


def test_skipped_files_and_folders(in_tmp: Path) -> None:
    write(
        in_tmp / "sinks.d",
        {
            "orders.yaml": ORDERS,
            "orders.test.yaml": "garbage: [",
            ".hidden.yaml": "garbage: [",
            "README.md": "# notes",
            "_values/dev.yaml": "a: 1\n",
            "_templates/x.yaml": "garbage: [",
            ".git/x.yaml": "garbage: [",
        },
    )
    result = load_directory("sinks.d")
    assert result.ok
    assert [f.path for f in result.files] == ["sinks.d/orders.yaml"]


def test_symlinks_leading_outside_are_refused(in_tmp: Path) -> None:
    root = write(in_tmp / "sinks.d", {"orders.yaml": ORDERS})
    outside = write(in_tmp / "elsewhere", {"x.yaml": ORDERS.replace("orders", "x")})
    (root / "evil.yaml").symlink_to(outside / "x.yaml")
    (root / "evil-dir").symlink_to(outside)
    (root / "alias.yaml").symlink_to(root / "orders.yaml")
    result = load_directory("sinks.d")
    text = formatted(result)
    assert "sinks.d/evil.yaml: error: symlink points outside the config root" in text
    assert "sinks.d/evil-dir: error: symlinked folder points outside the root" in text
    # A link inside the root loads (and so duplicates the name it points at).
    assert any("duplicate sink name 'orders'" in t for t in text)


def test_document_shape_errors(in_tmp: Path) -> None:
    body = (
        "description: no name\nsettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\nname: 'bad name!'\nsettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\nname: e\nenabled: 'yes'\nsettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\nname: l\nlabels: {team: 3}\nsettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\nname: s\nsettings: [topic]\n"
        "---\nName: ok\nSettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\nname: twice\nNAME: again\nsettings: {instanceTypeName: kafka-sink, topic: t}\n"
        "---\n42\n"
    )
    write(in_tmp / "sinks.d", {"a.yaml": body})
    result = load_directory("sinks.d")
    assert [s.name for s in result.files[0].sinks] == ["ok"]
    assert formatted(result) == [
        "sinks.d/a.yaml:1:1: error: missing required key 'name'",
        "sinks.d/a.yaml:4:7: error: name: invalid sink name 'bad name!'\n"
        "  note: 1-100 characters: letters, digits, '.', '_', '-', starting with a letter or digit",
        "sinks.d/a.yaml:8:10: error: enabled: must be true or false, not 'yes'",
        "sinks.d/a.yaml:12:16: error: labels:team: label values must be strings, "
        "not a number (quote it)",
        "sinks.d/a.yaml:16:11: error: settings: must be a mapping, not a list",
        "sinks.d/a.yaml:22:1: error: 'NAME' repeats 'name'",
        "sinks.d/a.yaml:25:1: error: a sink document must be a mapping, not a number",
    ]


def test_empty_file_is_a_warning_only(in_tmp: Path) -> None:
    write(in_tmp / "sinks.d", {"empty.yaml": "# nothing yet\n"})
    result = load_directory("sinks.d")
    assert result.ok
    assert formatted(result) == ["sinks.d/empty.yaml: warning: file defines no sinks"]
    assert result.diagnostics[0].severity is Severity.WARNING


def test_huge_file_is_refused_without_reading_it_all(in_tmp: Path) -> None:
    write(in_tmp / "sinks.d", {"big.yaml": "a: " + "x" * (2 * 1024 * 1024) + "\n"})
    assert formatted(load_directory("sinks.d")) == [
        "sinks.d/big.yaml: error: file is too large (2097156 bytes; the limit is 1 MiB)"
    ]


def test_missing_directory(in_tmp: Path) -> None:
    result = load_directory("nowhere.d")
    assert not result.ok
    assert formatted(result) == ["nowhere.d: error: sinks directory not found"]


TENANTS = """\
{% for t in tenants %}
---
name: tenant-{{ t.name }}
settings:
  instanceTypeName: kafka-sink
  topic: {{ t.name }}-events
  authentication:
    password: {{ secret("TENANT_PW") }}
  compression:
    type: {{ t.compression }}
{% endfor %}
"""


def test_template_generates_sinks_and_errors_point_at_template_lines(in_tmp: Path) -> None:
    write(
        in_tmp / "sinks.d",
        {
            "tenants.yaml.j2": TENANTS,
            "_values/dev.yaml": "tenants:\n  - {name: acme, compression: gzip}\n"
            "  - {name: globex, compression: zsdt}\n",
        },
    )
    result = load_directory("sinks.d", env="dev", environ={"TENANT_PW": "pw-for-tenants"})
    assert formatted(result) == [
        "sinks.d/tenants.yaml.j2:10:11: error: compression:type: 'zsdt' is not one of None, "
        "Gzip, Snappy, Lz4, Zstd (did you mean 'Zstd'?)"
    ]
    assert result.files[0].sinks[0].name == "tenant-acme"
    assert result.definitions == ()  # the file has an error: none of its sinks run


def test_unmappable_rendered_line_gets_a_note(in_tmp: Path) -> None:
    template = (
        "{{ header }}\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  compression: {type: zsdt}\n"
    )
    write(
        in_tmp / "sinks.d",
        {"x.yaml.j2": template, "_values/dev.yaml": 'header: "name: x\\nenabled: true"\n'},
    )
    (text,) = formatted(load_directory("sinks.d", env="dev"))
    assert text.startswith("sinks.d/x.yaml.j2:5:")  # literal line still maps
    template2 = "{{ block }}\n"
    write(
        in_tmp / "sinks.d",
        {
            "x.yaml.j2": template2,
            "_values/dev.yaml": 'block: "name: x\\nsettings:\\n  compression: {type: zsdt}'
            '\\n  topic: t\\n  instanceTypeName: kafka-sink"\n',
        },
    )
    (text,) = formatted(load_directory("sinks.d", env="dev"))
    assert text.startswith("sinks.d/x.yaml.j2: error: compression:type: 'zsdt' is not one of")
    assert text.endswith("note: at line 3 of the rendered output (see `sinks render`)")


def test_secret_value_never_appears_in_diagnostics(in_tmp: Path) -> None:
    secret = "Sup3r-Secret-Value"
    template = (
        "name: s\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  compression:\n    type: {{ secret('PW') }}\n"
    )
    write(in_tmp / "sinks.d", {"s.yaml.j2": template, "other.yaml": "name: [\n"})
    result = load_directory("sinks.d", environ={"PW": secret})
    text = "\n".join(formatted(result))
    assert "compression:type: '***' is not one of" in text
    assert secret not in text
    assert secret in result.secrets.values


def test_masked_views_hide_secrets_and_passwords(in_tmp: Path) -> None:
    template = (
        "name: s\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  bootstrapServers: \"{{ secret('HOST') }}:9092\"\n"
        "  authentication:\n    password: plain-password\n"
        "  defaultHeaders:\n    X-Token: \"{{ secret('TOKEN') }}\"\n    X-Team: core\n"
    )
    write(in_tmp / "sinks.d", {"s.yaml.j2": template})
    result = load_directory("sinks.d", environ={"HOST": "secret-host", "TOKEN": "tok-123"})
    assert result.ok, formatted(result)
    (sink,) = result.definitions
    shown = masked_settings(sink, result.secrets)
    assert shown["bootstrapServers"] == "***"
    assert shown["authentication:password"] == "***"
    assert shown["defaultHeaders"] == {"X-Token": "***", "X-Team": "core"}
    written = masked_written(result.files[0], sink, result.secrets)
    assert written["authentication:password"] == "***"
    assert "tok-123" not in repr(written) and "secret-host" not in repr(written)


def test_load_file_alone_and_outside_root(in_tmp: Path) -> None:
    root = write(in_tmp / "sinks.d", {"orders.yaml": ORDERS})
    write(in_tmp / "other", {"x.yaml": ORDERS})
    single = load_file("sinks.d/orders.yaml", root="sinks.d")
    assert single.ok and single.sinks[0].name == "orders"
    outside = load_file("other/x.yaml", root=root)
    assert [d.format() for d in outside.diagnostics] == [
        "other/x.yaml: error: file is outside the config root"
    ]


def test_duplicate_key_in_a_template_names_template_lines(in_tmp: Path) -> None:
    template = (
        "{% for t in ['a', 'b'] %}\n---\nname: s-{{ t }}\nsettings:\n"
        "  instanceTypeName: kafka-sink\n  topic: {{ t }}\n  topic: again\n{% endfor %}\n"
    )
    write(in_tmp / "sinks.d", {"x.yaml.j2": template})
    assert formatted(load_directory("sinks.d")) == [
        "sinks.d/x.yaml.j2:7:3: error: settings: duplicate key 'topic' (first written at line 6)",
        "sinks.d/x.yaml.j2:7:3: error: settings: duplicate key 'topic' (first written at line 6)",
    ]


def test_the_loader_and_the_schema_know_the_same_top_level_keys(in_tmp: Path) -> None:
    from engine.config.schemagen import sink_document_schema
    from engine.specification.tables import load_catalogue

    schema = sink_document_schema(load_catalogue())
    write(in_tmp / "sinks.d", {"a.yaml": ORDERS.replace("name: orders", "name: a\nzzz: 1")})
    assert formatted(load_directory("sinks.d")) == [
        "sinks.d/a.yaml:2:1: error: unknown key 'zzz' (expected one of "
        + ", ".join(schema["properties"])
        + ")"
    ]
    assert list(schema["properties"]) == ["name", "description", "enabled", "labels", "settings"]
    assert schema["required"] == ["name", "settings"]
