"""Config tests: run sample events through a sink's real ``Mapper``, without servers.

``run_tests(root, definitions)`` finds every ``*.test.yaml`` under ``root``
(folders starting with ``_`` or ``.`` skipped), reads its cases (format in
``engine.configtest.cases``), builds one ``Mapper`` per sink under test
and checks each case: the whole filter (the server-side part emulated, then
JSONPath), the transformer, the key, the headers and the value.

Every mismatch is a ``Diagnostic`` pointing at the expectation in the test file
(``sinks.d/orders.test.yaml:14:7: error: case 'eu order': key: expected 'eu', got
'us'``). A case passes when it has no diagnostic. Results are pure values; the
``sinks test`` command prints them. What the sink made is shown through ``mask``
(the caller's secrets masked as values, before they are quoted: a quoted secret
with quotes, backslashes or non-ASCII no longer holds its text as it is); the
comparison itself uses the real values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config.walk import walk
from engine.config.yamlmarks import parse_yaml, read_sink_text
from engine.configtest.cases import Case, TestFile, read_test_document
from engine.mapping.pipeline import Mapper, TransformError
from engine.sandbox.regexes import RegexTimeout
from engine.specification.constants import SINK_SUFFIXES, TEST_SUFFIXES
from engine.specification.errors import PermanentError
from engine.specification.model import Diagnostic, Location, Message, SinkDefinition

_MISSING = object()
Mask = Callable[[Any], Any]


def _unmasked(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    failures: tuple[Diagnostic, ...]
    topic: str | None = None  # where the sample event went (None: filtered out or failed)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class TestReport:
    results: tuple[CaseResult, ...]
    problems: tuple[Diagnostic, ...]  # file-level problems (unreadable file, no such sink)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems

    def diagnostics(self) -> list[Diagnostic]:
        """Every problem and failure, in file order."""
        found = [*self.problems, *(d for r in self.results for d in r.failures)]
        return sorted(found, key=_position)


def _position(diagnostic: Diagnostic) -> tuple[str, int, int]:
    where = diagnostic.location
    return (where.path, where.line, where.column) if where else ("", 0, 0)


def find_test_files(root: str | Path) -> list[tuple[Path, str]]:
    """(path, display path) of each test file under ``root``, sorted (the loader's walk)."""
    if not Path(root).is_dir():
        return []
    return [(f.path, f.display) for f in walk(root).test_files]


def read_test_file(path: Path, display: str) -> TestFile:
    text, problem = read_sink_text(path, display)
    if text is None:
        assert problem is not None
        return TestFile(display, None, (), (problem,), ("#1",))
    parsed = parse_yaml(text, display)
    if not parsed.ok or len(parsed.documents) != 1:
        problems = parsed.diagnostics or (
            Diagnostic(Location(display, 1, 1), "a config test file holds exactly one document"),
        )
        return TestFile(display, None, (), tuple(problems), ("#1",))
    return read_test_document(parsed.documents[0], display)


def run_tests(
    root: str | Path, definitions: Sequence[SinkDefinition], mask: Mask = _unmasked
) -> TestReport:
    results: list[CaseResult] = []
    problems: list[Diagnostic] = []
    for path, display in find_test_files(root):
        test = read_test_file(path, display)
        file_results, file_problems = run_test_file(test, definitions, mask)
        results.extend(file_results)
        problems.extend(file_problems)
    return TestReport(tuple(results), tuple(problems))


def run_test_file(
    test: TestFile, definitions: Sequence[SinkDefinition], mask: Mask = _unmasked
) -> tuple[list[CaseResult], list[Diagnostic]]:
    """Results of each case of ``test``; cases that could not be read count as failed."""
    case_keys = {f"case '{n}'" for n in test.broken_cases} | {
        f"case {n}" for n in test.broken_cases if n.startswith("#")
    }
    results = [CaseResult(test.path, name, _broken(test, name)) for name in test.broken_cases]
    problems = [p for p in test.problems if p.key not in case_keys]
    by_name = {d.name: d for d in definitions}
    mappers: dict[str, Mapper | Diagnostic] = {}
    try:
        for case in test.cases:
            target = _target(test, case, definitions, by_name)
            if isinstance(target, Diagnostic):
                results.append(CaseResult(test.path, case.name, (target,)))
                continue
            if target.name not in mappers:
                mappers[target.name] = _mapper(target, case)
            mapper = mappers[target.name]
            if isinstance(mapper, Diagnostic):
                failure = Diagnostic(mapper.location, mapper.message, key=f"case '{case.name}'")
                results.append(CaseResult(test.path, case.name, (failure,)))
                continue
            sent: list[Message] = []
            failures = tuple(check_case(mapper, case, mask, sent.append))
            topic = mask(sent[0].topic) if sent else None
            results.append(CaseResult(test.path, case.name, failures, topic))
    finally:
        for mapper in mappers.values():
            if isinstance(mapper, Mapper):
                mapper.close()
    return results, problems


def _broken(test: TestFile, name: str) -> tuple[Diagnostic, ...]:
    keys = (f"case '{name}'", f"case {name}")
    found = tuple(p for p in test.problems if p.key in keys)
    if found:
        return found
    where = test.problems[0].location if test.problems else Location(test.path)
    return (Diagnostic(where, "cannot be read", key=f"case '{name}'"),)


def _target(
    test: TestFile,
    case: Case,
    definitions: Sequence[SinkDefinition],
    by_name: Mapping[str, SinkDefinition],
) -> SinkDefinition | Diagnostic:
    label = f"case '{case.name}'"
    wanted = case.sink or test.sink
    if wanted is not None:
        found = by_name.get(wanted)
        if found is None:
            where = case.locate("sink") if case.sink else case.document.locate(("sink",))
            return Diagnostic(where, f"no loaded sink named '{wanted}'", key=label)
        return found
    siblings = sibling_sinks(test.path, definitions)
    if len(siblings) == 1:
        return siblings[0]
    stem = _stem(test.path, TEST_SUFFIXES)
    if not siblings:
        message = f"no loaded sink in {stem}.yaml beside this file (name one with 'sink:')"
    else:
        names = ", ".join(d.name for d in siblings)
        message = f"{stem}.yaml defines several sinks ({names}); name one with 'sink:'"
    return Diagnostic(case.locate(), message, key=label)


def sibling_sinks(test_path: str, definitions: Iterable[SinkDefinition]) -> list[SinkDefinition]:
    """Sinks defined in the file whose name the test file shares (``orders.yaml``)."""
    stem = _stem(test_path, TEST_SUFFIXES)
    folder = Path(test_path).resolve().parent
    return [
        d
        for d in definitions
        if d.source_file
        and _stem(d.source_file, SINK_SUFFIXES) == stem
        and Path(d.source_file).resolve().parent == folder
    ]


def _stem(path: str, suffixes: tuple[str, ...]) -> str:
    name = Path(path).name
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _mapper(definition: SinkDefinition, case: Case) -> Mapper | Diagnostic:
    try:
        return Mapper(definition.name, definition.settings)
    except (PermanentError, ValueError, KeyError) as exc:
        where = Location(definition.source_file) if definition.source_file else case.locate()
        return Diagnostic(where, f"sink '{definition.name}' cannot start: {exc}")


def check_case(
    mapper: Mapper,
    case: Case,
    mask: Mask = _unmasked,
    made: Callable[[Message], None] = lambda message: None,
) -> list[Diagnostic]:
    """The mismatches between what ``mapper`` does with the case's event and ``expect``;
    ``made`` is given the message the sink made of it, if any."""
    expect = case.expect
    label = f"case '{case.name}'"

    def fail(key: str | tuple[str, ...], message: str) -> Diagnostic:
        path = key if isinstance(key, tuple) else (key,)
        return Diagnostic(case.locate("expect", *path), message, key=label)

    try:
        message = mapper.map_batch([case.record])[0] if mapper.matches(case.record) else None
    except (TransformError, RegexTimeout) as exc:
        if "error" in expect:
            if str(expect["error"]) in str(exc):
                return []
            return [
                fail(
                    "error",
                    f"expected an error containing {_show(expect['error'])}, "
                    f"got {_show(mask(str(exc)))}",
                )
            ]
        return [Diagnostic(case.locate("event"), f"mapping failed: {mask(str(exc))}", key=label)]
    if message is not None:
        made(message)
    if "error" in expect:
        got = "a message" if message is not None else "the event filtered out"
        return [fail("error", f"expected an error containing {_show(expect['error'])}, got {got}")]
    if expect.get("filtered") is True:
        if message is None:
            return []
        return [fail("filtered", "expected the event to be filtered out, got a message")]
    if message is None:
        return [
            Diagnostic(
                case.locate("expect"),
                f"expected a message, the event was filtered out by {mapper.plan.describe()}",
                key=label,
            )
        ]
    return _compare(message, expect, fail, mask)


def _compare(
    message: Message, expect: Mapping[str, Any], fail: Callable[..., Diagnostic], mask: Mask
) -> list[Diagnostic]:
    failures: list[Diagnostic] = []
    if "topic" in expect and str(expect["topic"]) != message.topic:
        failures.append(
            fail(
                "topic",
                f"topic: expected {_show(expect['topic'])}, got {_show(mask(message.topic))}",
            )
        )
    if "key" in expect:
        wanted = None if expect["key"] is None else _text(expect["key"])
        got = None if message.key is None else message.key.decode("utf-8", "replace")
        if wanted != got:
            failures.append(
                fail(
                    "key",
                    f"key: expected {_show(wanted, 'no key')}, got {_show(mask(got), 'no key')}",
                )
            )
    for name, value in (expect.get("headers") or {}).items():
        present = [v for n, v in message.headers if n == name]
        got_header = present[-1].decode("utf-8", "replace") if present else None
        wanted_header = None if value is None else _text(value)
        if wanted_header != got_header:
            failures.append(
                fail(
                    ("headers", name),
                    f"header '{name}': expected "
                    f"{_show(wanted_header, 'no such header')}, "
                    f"got {_show(mask(got_header), 'no such header')}",
                )
            )
    parsed = _parse(message.value)
    if "value" in expect:
        wanted_value = expect["value"]
        if parsed is _MISSING or (isinstance(wanted_value, str) and not isinstance(parsed, str)):
            equal = isinstance(wanted_value, str) and message.value == wanted_value.encode()
            got_value: Any = message.value.decode("utf-8", "replace")
        else:
            equal, got_value = parsed == wanted_value, parsed
        if not equal:
            failures.append(
                fail(
                    "value",
                    f"value: expected {_show(wanted_value)}, got {_show(mask(got_value))}",
                )
            )
    if "value_contains" in expect:
        if parsed is _MISSING:
            failures.append(fail("value_contains", "value_contains: the value is not JSON"))
        else:
            for path, problem in _subset(expect["value_contains"], parsed, "value", mask):
                failures.append(fail("value_contains", f"{path}: {problem}"))
    return failures


def _subset(wanted: Any, got: Any, path: str, mask: Mask) -> list[tuple[str, str]]:
    """Where ``got`` does not contain ``wanted`` (objects by key, lists element-wise)."""
    if isinstance(wanted, dict):
        if not isinstance(got, dict):
            return [(path, f"expected an object, got {_show(mask(got))}")]
        found: list[tuple[str, str]] = []
        for key, value in wanted.items():
            if key not in got:
                found.append((f"{path}.{key}", "missing"))
            else:
                found.extend(_subset(value, got[key], f"{path}.{key}", mask))
        return found
    if isinstance(wanted, list):
        if not isinstance(got, list) or len(got) != len(wanted):
            return [(path, f"expected {_show(wanted)}, got {_show(mask(got))}")]
        return [p for i, w in enumerate(wanted) for p in _subset(w, got[i], f"{path}[{i}]", mask)]
    if wanted != got or isinstance(wanted, bool) != isinstance(got, bool):
        return [(path, f"expected {_show(wanted)}, got {_show(mask(got))}")]
    return []


def _parse(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return _MISSING


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _show(value: Any, none: str = "null") -> str:
    if value is None:
        return none
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
