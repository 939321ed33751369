"""Sandboxed templates: values, overrides, env/secret functions, refusals with lines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from engine.config.templating import (
    MASK,
    PLACEHOLDER,
    LineMap,
    MissingSecrets,
    SecretBook,
    TemplateContext,
    list_envs,
    parse_override,
    scalar_value,
)


def make_root(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sinks.d"
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    root.mkdir(exist_ok=True)
    return root


def render(
    root: Path,
    source: str,
    *,
    env: str | None = None,
    overrides: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
    missing: MissingSecrets = MissingSecrets.ERROR,
) -> tuple[str | None, list[str], TemplateContext]:
    context = TemplateContext(
        root,
        "sinks.d",
        env=env,
        overrides=overrides,
        environ=environ or {},
        missing_secrets=missing,
    )
    file = root / "t.yaml.j2"
    file.write_text(source)
    outcome = context.render(file, "sinks.d/t.yaml.j2", source)
    found = [d.format() for d in (*context.diagnostics, *outcome.diagnostics)]
    return outcome.text, found, context


def test_values_for_the_environment_and_overrides(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {"_values/dev.yaml": "kafka:\n  servers: dev:9092\n  acks: true\ntenants: [a, b]\n"},
    )
    text, found, _ = render(
        root,
        "servers: {{ kafka.servers }}\nacks: {{ kafka.acks }}\n"
        "{% for t in tenants %}\n- {{ t }}\n{% endfor %}\nextra: {{ values.extra.deep }}\n",
        env="dev",
        overrides={"kafka.servers": "other:9092", "extra.deep": "3"},
    )
    assert found == []
    assert text == "servers: other:9092\nacks: True\n- a\n- b\nextra: 3\n"


def test_envs_are_the_values_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_values/prod.yaml": "a: 1\n", "_values/dev.yml": "a: 2\n"})
    assert list_envs(root) == ["dev", "prod"]
    _, found, _ = render(root, "x\n", env="stage")
    assert found == [
        "sinks.d/_values/stage.yaml: error: no values file for environment 'stage' "
        "(environments: dev, prod)"
    ]


def test_values_file_must_be_a_mapping_without_duplicates(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_values/dev.yaml": "a: 1\na: 2\n", "_values/qa.yaml": "- 1\n"})
    assert render(root, "x\n", env="dev")[1] == [
        "sinks.d/_values/dev.yaml:2:1: error: duplicate key 'a' (first written at line 1)"
    ]
    assert render(root, "x\n", env="qa")[1] == [
        "sinks.d/_values/qa.yaml:1:1: error: a values file must be a mapping"
    ]


def test_override_into_a_scalar_is_an_error(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_values/dev.yaml": "a: 1\n"})
    assert render(root, "x\n", env="dev", overrides={"a.b": 1})[1] == [
        "--set: error: a.b: 'a' is not a mapping"
    ]


def test_overrides_are_read_as_yaml_scalars() -> None:
    assert parse_override("a.b=3") == ("a.b", "3")
    assert parse_override("s=x:y=z") == ("s", "x:y=z")
    assert parse_override("novalue") is None
    assert scalar_value("3") == 3
    assert scalar_value("true") is True
    assert scalar_value('"3"') == "3"
    assert scalar_value("x:y=z") == "x:y=z"
    assert scalar_value("[1, 2]") == "[1, 2]"
    assert scalar_value("") == ""


def test_env_function(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    text, found, _ = render(
        root,
        'a: {{ env("HOST") }}\nb: {{ env("PORT", default="9092") }}\n',
        environ={"HOST": "h1"},
    )
    assert (text, found) == ("a: h1\nb: 9092\n", [])
    _, found, _ = render(root, 'a: 1\nb: {{ env("NOPE") }}\n')
    assert found == [
        "sinks.d/t.yaml.j2:2: error: environment variable 'NOPE' is not set (and no default)"
    ]


def test_secrets_are_remembered_and_masked(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"secrets/kafka.txt": "file-secret-value\n"})
    text, found, context = render(
        root,
        'p: {{ secret("KAFKA_PW") }}\nq: "user:{{ secret_file("secrets/kafka.txt") }}"\n',
        environ={"KAFKA_PW": "s3cr3t-pw"},
    )
    assert found == []
    assert text == 'p: s3cr3t-pw\nq: "user:file-secret-value"\n'
    assert context.secrets.values == {"s3cr3t-pw", "file-secret-value"}
    assert context.secrets.mask_text(text) == f'p: {MASK}\nq: "user:{MASK}"\n'


def test_missing_secret_is_an_error_or_a_masked_placeholder(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    _, found, _ = render(root, 'a: 1\np: {{ secret("PW") }}\n')
    assert found == ["sinks.d/t.yaml.j2:2: error: secret 'PW' is not set (environment variable PW)"]
    text, found, context = render(
        root, 'a: 1\np: {{ secret("PW") }}\n', missing=MissingSecrets.PLACEHOLDER
    )
    assert text == f"a: 1\np: {PLACEHOLDER}\n"
    assert context.secrets.mask_text(text) == f"a: 1\np: {MASK}\n"
    assert found == [
        "sinks.d/t.yaml.j2:2: warning: secret 'PW' is not set (environment variable PW); "
        "a placeholder was used"
    ]


def test_secret_file_outside_root_is_refused_unless_allowed(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    outside = tmp_path / "run" / "pw"
    outside.parent.mkdir()
    outside.write_text("outside-secret")
    source = f'p: {{{{ secret_file("{outside}") }}}}\n'
    _, found, _ = render(root, source)
    assert found == [
        f"sinks.d/t.yaml.j2:1: error: secret_file '{outside}' is outside the config root "
        "and SINKS_SECRET_DIRS"
    ]
    text, found, _ = render(root, source, environ={"SINKS_SECRET_DIRS": str(outside.parent)})
    assert (text, found) == ("p: outside-secret\n", [])
    _, found, _ = render(root, 'p: {{ secret_file("../run/pw") }}\n')
    assert "is outside the config root" in found[0]


def test_shared_macros_see_values(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        {
            "_values/dev.yaml": "servers: k1:9092\n",
            "_templates/kafka.j2": "{% macro common(t) %}\n  topic: {{ t }}\n"
            "  bootstrapServers: {{ servers }}\n{% endmacro %}\n",
        },
    )
    text, found, _ = render(
        root, '{% import "kafka.j2" as k %}\nsettings:\n{{ k.common("orders") }}', env="dev"
    )
    assert found == []
    assert text == "settings:\n  topic: orders\n  bootstrapServers: k1:9092\n"


def test_undefined_in_a_macro_points_at_the_macro_file(tmp_path: Path) -> None:
    root = make_root(
        tmp_path, {"_templates/m.j2": "{% macro f() %}\nx: {{ missing }}\n{% endmacro %}\n"}
    )
    _, found, _ = render(root, '{% import "m.j2" as m %}\n{{ m.f() }}\n')
    assert found == [
        "sinks.d/_templates/m.j2:2: error: undefined: 'missing' is undefined\n"
        "  note: no environment given (--env): values from sinks.d/_values/<env>.yaml "
        "are not loaded"
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a: 1\nb: {{ nope }}\n", "sinks.d/t.yaml.j2:2: error: undefined: 'nope' is undefined"),
        (
            "a: 1\n\n{% for x in %}\n",
            "sinks.d/t.yaml.j2:3: error: template syntax error: Expected an expression, "
            "got 'end of statement block'",
        ),
        (
            "a: {{ ''.__class__.__mro__ }}\n",
            "sinks.d/t.yaml.j2:1: error: template refused: access to attribute '__class__' "
            "of 'str' object is unsafe.",
        ),
        (
            "a: 1\nb: {{ cycler.__init__.__globals__ }}\n",
            "sinks.d/t.yaml.j2:2: error: template refused: access to attribute '__init__' "
            "of 'type' object is unsafe.",
        ),
        (
            '{% include "../../etc/passwd" %}\n',
            "sinks.d/t.yaml.j2:1: error: template '../../etc/passwd' is outside the config root",
        ),
        (
            '{% include "/etc/passwd" %}\n',
            "sinks.d/t.yaml.j2:1: error: template '/etc/passwd' is outside the config root",
        ),
        (
            '\n{% include "nothere.j2" %}\n',
            "sinks.d/t.yaml.j2:2: error: template 'nothere.j2' not found in _templates/ "
            "or the config root",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "sinks.d/t.yaml.j2:1: error: loops exceed 200000 iterations in total",
        ),
        ("a: {{ 'x' * 100000000 }}\n", "sinks.d/t.yaml.j2:1: error: repetition result too large"),
        ("a: {{ 9 ** 99999999 }}\n", "sinks.d/t.yaml.j2:1: error: power result too large"),
        ("a: {{ 'x'.center(10 ** 9) }}\n", "sinks.d/t.yaml.j2:1: error: string result too large"),
        (
            "{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}\n",
            "sinks.d/t.yaml.j2:1: error: template recursion is too deep",
        ),
    ],
)
def test_refusals_are_diagnostics_with_lines(tmp_path: Path, source: str, expected: str) -> None:
    root = make_root(tmp_path, {})
    text, found, _ = render(root, source)
    assert text is None
    assert found[0].split("\n  note:")[0] == expected


def test_symlinked_template_outside_root_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_templates/.keep": ""})
    secret = tmp_path / "elsewhere.j2"
    secret.write_text("outside")
    (root / "_templates" / "evil.j2").symlink_to(secret)
    _, found, _ = render(root, '{% include "evil.j2" %}\n')
    assert found == [
        "sinks.d/t.yaml.j2:1: error: template 'evil.j2' resolves outside the config root (symlink)"
    ]


def test_oversized_output_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    _, found, _ = render(root, "{% for i in range(2000) %}{{ 'x' * 1000 }}\n{% endfor %}\n")
    assert found == ["sinks.d/t.yaml.j2: error: rendered output is larger than 1 MiB"]


def test_line_map_identity_and_pattern_matching() -> None:
    same = LineMap("a: {{ x }}\nb: 2\n", "a: 1\nb: 2\n")
    assert same.map(2, 4) == (2, 4)
    template = (
        "{% for t in ts %}\n---\nname: s-{{ t }}\nsettings:\n  topic: {{ t }}\n{% endfor %}\n"
    )
    rendered = "---\nname: s-a\nsettings:\n  topic: a\n---\nname: s-b\nsettings:\n  topic: b\n"
    lines = LineMap(template, rendered)
    assert lines.map(8, 10) == (5, 10)  # "  topic: b" comes from template line 5
    assert lines.map(6, 7) == (3, 7)
    assert lines.map(5, 1) == (2, 1)  # "---" is written once, rendered twice
    assert lines.map(99, 1) is None
    # Lines that come out of a multi-line expression have no template line.
    block = LineMap("a: {{ x }}\n{{ block }}\n", "a: 1\nb: 1\nc: 2\n")
    assert block.map(1, 4) == (1, 4)
    assert block.map(2, 1) is None


def test_secret_book_masks_longest_first_and_nested_values() -> None:
    book = SecretBook()
    book.add("abc")
    book.add("abcdef")
    book.add("")
    assert book.mask_text("x-abcdef-abc") == f"x-{MASK}-{MASK}"
    assert book.mask_value({"a": ["abc", 1], "b": "zz"}) == {"a": [MASK, 1], "b": "zz"}
    assert book.contains_secret({"h": {"k": "1abc"}})
    assert not book.contains_secret(["ab"])


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: os.mkfifo(p), "is a FIFO, not a regular file"),
        (lambda p: p.mkdir(), "is a folder, not a regular file"),
        (lambda p: p.write_bytes(b"x" * 70_000), "is 70000 bytes, over the limit of 65536 bytes"),
    ],
    ids=["fifo", "folder", "too-large"],
)
def test_secret_file_refuses_what_is_not_a_small_regular_file(
    tmp_path: Path, make: Any, said: str
) -> None:
    root = make_root(tmp_path, {})
    (root / "secrets").mkdir()
    make(root / "secrets" / "pw")
    _, found, _ = render(root, 'p: {{ secret_file("secrets/pw") }}\n')
    assert found == [f"sinks.d/t.yaml.j2:1: error: secret file 'secrets/pw' {said}"]


def test_secret_file_at_the_limit_is_read_whole(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"secrets/pw": "k" * 65536})
    text, found, _ = render(root, 'p: {{ secret_file("secrets/pw") | length }}\n')
    assert (text, found) == ("p: 65536\n", [])


def test_a_values_file_that_is_a_fifo_is_an_error_that_says_so(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_values/prod.yaml": "a: 1\n"})
    os.mkfifo(root / "_values" / "dev.yaml")
    _, found, _ = render(root, "a: 1\n", env="dev")
    assert found == ["sinks.d/_values/dev.yaml: error: not a regular file"]


CHANGED = (
    "only its exact value is masked in every output, so a changed form of it would be "
    "printed in clear"
)


@pytest.mark.parametrize(
    ("expression", "what"),
    [
        ('secret("S") | upper', "the 'upper' filter"),
        ('secret("S") | urlencode', "the 'urlencode' filter"),
        ('secret("S") | replace("a", "b")', "the 'replace' filter"),
        ('secret("S")[0:8]', "an index or a slice"),
        ('secret("S")[0]', "an index or a slice"),
        ('secret("S").lower()', "'lower()'"),
        ('"%s" % secret("S")', "'%' formatting (join it with '~' instead)"),
        ('"{}".format(secret("S"))', "'format()' (join it with '~' instead)"),
        ('secret_file("pw") | trim', "the 'trim' filter"),
    ],
)
def test_a_secret_cannot_be_changed_in_a_template(
    tmp_path: Path, expression: str, what: str
) -> None:
    root = make_root(tmp_path, {"pw": "file-secret"})
    _, found, _ = render(root, f"p: {{{{ {expression} }}}}\n", environ={"S": "Pa55word"})
    assert found == [f"sinks.d/t.yaml.j2:1: error: a secret cannot go through {what}: {CHANGED}"]


def test_a_loop_over_a_secret_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    source = 'p: {% for c in secret("S") %}{{ c }}{% endfor %}\n'
    _, found, _ = render(root, source, environ={"S": "Pa55word"})
    assert found == [
        f"sinks.d/t.yaml.j2:1: error: a secret cannot go through a loop over its characters: "
        f"{CHANGED}"
    ]


def test_a_secret_written_whole_joined_or_passed_to_a_macro_is_fine(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"_templates/m.j2": "{% macro auth(pw) %}{{ pw }}{% endmacro %}"})
    source = (
        '{% import "m.j2" as m %}a: {{ secret("S") }}\nb: "u:{{ "x" ~ secret("S") }}"\n'
        'c: {{ m.auth(secret("S")) }}\nd: {{ [secret("S"), "t"] | join(",") }}\n'
        'e: {{ secret("S") | length }}\n'
    )
    text, found, context = render(root, source, environ={"S": "Pa55word"})
    assert found == []
    assert text == 'a: Pa55word\nb: "u:xPa55word"\nc: Pa55word\nd: Pa55word,t\ne: 8\n'
    assert context.secrets.mask_text(text) == 'a: ***\nb: "u:x***"\nc: ***\nd: ***,t\ne: 8\n'


def test_tojson_of_a_secret_is_masked_in_its_escaped_form_too(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    value = "q\"uo\\te'd ünï"
    text, found, context = render(root, 'p: {{ secret("S") | tojson }}\n', environ={"S": value})
    assert found == [] and text is not None
    assert value not in text  # escaped by tojson
    assert context.secrets.mask_text(text) == 'p: "***"\n'
