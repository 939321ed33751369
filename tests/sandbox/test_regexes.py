"""User regexes: .NET-style named groups, and a time bound that turns a stall into an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.mapping.pipeline import Mapper, TransformError
from engine.sandbox.regexes import RegexTimeout, compile_user_regex
from engine.specification.constants import REGEX_SEARCH_LIMIT_S
from engine.specification.errors import PermanentError
from tests.config.test_canonical import formatted, run
from tests.mapping.helpers import record, settings

# Exponential for a backtracking engine; `regex` needs its timeout to stop it.
EXPONENTIAL = "^(a|a)+$"
STREAM = "a" * 36 + "b"


def test_a_catastrophic_search_raises_a_timeout_naming_the_setting() -> None:
    compiled = compile_user_regex(EXPONENTIAL, "subscription:filter:expression")
    with pytest.raises(RegexTimeout) as caught:
        compiled.search(STREAM)
    assert str(caught.value) == (
        f"subscription:filter:expression: the regular expression '^(a|a)+$' did not finish "
        f"within {REGEX_SEARCH_LIMIT_S:g} s on '{STREAM}'"
    )


def test_nested_quantifiers_run_in_linear_time() -> None:
    # The issue's pattern: `re` takes minutes on this stream name.
    assert compile_user_regex("^(a+)+$", "k").search(STREAM) is None


def test_an_invalid_regex_names_the_setting() -> None:
    with pytest.raises(PermanentError, match=r"^k: invalid regular expression '\(x': "):
        compile_user_regex("(x", "k")


def test_dotnet_named_groups_validate_and_key_the_message() -> None:
    written = """
        settings:
          instanceTypeName: kafka-sink
          topic: t
          partitionKeyExtraction:
            enabled: true
            source: stream
            expression: "^(?<tenant>[a-z]+)-"
    """
    assert formatted(run(written)) == []
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Stream",
            partitionKeyExtraction__expression="^(?<tenant>[a-z]+)-",
        ),
    )
    message = mapper(record(stream="acme-order-1"))
    assert message is not None
    assert message.key == b"acme"


def test_a_partition_key_timeout_fails_that_event_and_keeps_the_ones_before() -> None:
    mapper = Mapper(
        "orders",
        settings(
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Stream",
            partitionKeyExtraction__expression=EXPONENTIAL,
        ),
    )
    first = record(stream="aaa", position=100, record_id="r1")
    bad = record(stream=STREAM, position=200, record_id="r2")
    after = record(stream="aaa", position=300, record_id="r3")
    with pytest.raises(TransformError) as caught:
        mapper.map_batch([first, bad, after])
    assert caught.value.position == 200
    assert caught.value.record_id == "r2"
    assert [m.position for m in caught.value.completed if m is not None] == [100]
    assert str(caught.value) == (
        "sink 'orders': partitionKeyExtraction:expression: the regular expression "
        f"'^(a|a)+$' did not finish within {REGEX_SEARCH_LIMIT_S:g} s on '{STREAM}' "
        f"(event r2 at position 200 in '{STREAM}')"
    )


SINK = """\
name: catastrophic
settings:
  instanceTypeName: kafka-sink
  topic: t
  subscription:
    filter:
      scope: stream
      filterType: regex
      expression: "{pattern}"
"""
CASES = f"""\
cases:
  - name: a long stream name
    event: {{stream: {STREAM}, type: T, data: {{}}}}
    expect: {{filtered: true}}
"""


def sinks_test(tmp_path: Path, pattern: str) -> subprocess.CompletedProcess[str]:
    root = tmp_path / "sinks.d"
    root.mkdir()
    (root / "catastrophic.yaml").write_text(SINK.format(pattern=pattern))
    (root / "catastrophic.test.yaml").write_text(CASES)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "test", "--dir", "sinks.d"],
        capture_output=True,
        text=True,
        timeout=60,  # without the bound, this ran for hours
        cwd=tmp_path,
        check=False,
    )


def test_sinks_test_finishes_on_the_issue_s_pattern(tmp_path: Path) -> None:
    result = sinks_test(tmp_path, "^(a+)+$")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "1 passed, 0 failed")


def test_sinks_test_reports_a_regex_that_runs_out_of_time(tmp_path: Path) -> None:
    result = sinks_test(tmp_path, EXPONENTIAL)
    assert (result.returncode, result.stdout) == (1, "0 passed, 1 failed\n")
    assert result.stderr.splitlines() == [
        "sinks.d/catastrophic.test.yaml:3:12: error: case 'a long stream name': mapping "
        "failed: subscription:filter:expression: the filter did not finish within "
        f"{REGEX_SEARCH_LIMIT_S:g} s on '{STREAM}'",
    ]
