"""User transforms: a base64 JavaScript ``function transform(record)`` run in embedded V8.

The function receives the record object described in ``engine.mapping.jsonpath``
(``recordId``, ``position``, ``streamId``, ``streamRevision``, ``logPosition``,
``timestamp``, ``isRedacted``, ``isTransformed``, ``schemaInfo``, ``headers``,
``value``) and changes it in place; its return value is ignored. What reaches
Kafka from the changed record: ``value`` (re-serialised as compact JSON; a removed
value becomes ``null``), ``headers`` (an object; non-string values JSON-encoded)
and ``schemaInfo.subject`` (the ``esdb-record-schema-subject`` header). Two fields
the record does not have may be set to route it: ``topic`` (a string: the message
goes there instead of the sink's topic) and ``key`` (a string, or null for no key:
it replaces the sink's partition key). Changes to the other fields are ignored.

Guarantees:

* The code is compiled once when the ``Transformer`` is built; code that is not
  base64, not UTF-8, does not compile, or defines no ``transform`` function
  raises ``PermanentError`` with the engine's message.
* A ``transform`` that throws, runs out of time or memory, or leaves
  ``headers`` / ``schemaInfo.subject`` with the wrong type raises
  ``TransformFailed`` naming the index of the record in the batch: never a
  silent drop.
* Limits: 5 s per call plus 50 ms per record in a batch, and a 256 MiB heap.
  What would escape them is not there: typed arrays, ``ArrayBuffer``,
  ``SharedArrayBuffer``, ``DataView``, ``Atomics`` and ``WebAssembly`` keep their
  memory outside V8's heap (six 256 MiB ``Uint8Array`` took the process to 1.6 GB
  under the heap limit), and a callback given to ``setTimeout`` runs after its call
  returned, outside that call's time limit (an endless one made the next record's
  call time out). Touching any of these names throws a ``TypeError`` that says why,
  which fails that record like any other throw.

Crossing into V8 costs ~0.2 ms per call whatever the payload, so records are
passed in batches (``transform_many``): one call for many records.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

from engine.sandbox.limits import Stopped, address_space_limited, in_child
from engine.specification.constants import EVALUATION_MEMORY_BYTES, TRANSFORMER_CHECK_DEADLINE_S
from engine.specification.errors import PermanentError

FUNCTION_KEY = "transformer:function"
CALL_LIMIT_S = 5.0
PER_RECORD_LIMIT_S = 0.05
HEAP_LIMIT_BYTES = 256 * 1024 * 1024

# Names a transform cannot use, and why (see the module docstring). Each becomes a
# getter that throws, defined before the user's code runs and not configurable, so the
# code can neither restore nor redefine it. The embedding defines the timer functions
# itself as writable but not configurable: those become read-only functions that throw.
_UNAVAILABLE = {
    "memory outside the transform's heap limit": (
        "ArrayBuffer SharedArrayBuffer DataView Atomics WebAssembly Int8Array Uint8Array "
        "Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array Float16Array "
        "Float32Array Float64Array BigInt64Array BigUint64Array"
    ),
    "work after the call returned, outside its time limit": (
        "setTimeout clearTimeout __timer_manager FinalizationRegistry"
    ),
}
_LOCKDOWN = (
    """
(function (unavailable) {
  for (const [why, names] of Object.entries(unavailable)) {
    for (const name of names.split(" ")) {
      const message = name + " is not available in a transform (" + why + ")";
      const refuse = () => { throw new TypeError(message); };
      const own = Object.getOwnPropertyDescriptor(globalThis, name);
      if (own === undefined || own.configurable) {
        Object.defineProperty(globalThis, name, {configurable: false, get: refuse});
      } else {
        Object.defineProperty(globalThis, name, {value: refuse, writable: false});
      }
    }
  }
})("""
    + json.dumps(_UNAVAILABLE)
    + ");"
)

# Runs transform on each record of a JSON array; stops at the first throw and says where.
_DRIVER = """
function __sinksTransformMany(text) {
  const records = JSON.parse(text);
  for (let i = 0; i < records.length; i++) {
    try {
      transform(records[i]);
    } catch (e) {
      const reason = (e && e.stack) ? String(e.stack) : String(e);
      return JSON.stringify({failed: i, error: reason, done: records.slice(0, i)});
    }
  }
  return JSON.stringify({done: records});
}
"""


@dataclass(frozen=True, slots=True)
class Transformed:
    """What the transform made of one record."""

    value: bytes
    headers: dict[str, str]
    subject: str
    # ``record.topic`` / ``record.key`` when the transform set them: they win over the
    # sink's topic and partition key. ``key_set`` tells a key set to null (no key) from
    # a key not set at all.
    topic: str | None = None
    key: bytes | None = None
    key_set: bool = False


class TransformFailed(Exception):
    """``transform`` failed on ``records[index]``; ``done`` holds the records before it."""

    def __init__(self, index: int, reason: str, done: Sequence[Transformed]) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason
        self.done = tuple(done)


def decode_function(encoded: str) -> str:
    """The JavaScript source of a base64 ``transformer:function``."""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(f"{FUNCTION_KEY}: not valid base64-encoded UTF-8 text: {exc}") from exc


class Transformer:
    """One V8 isolate with the user's ``transform`` compiled in it."""

    def __init__(self, encoded_function: str) -> None:
        source = decode_function(encoded_function)
        if not source.strip():
            raise PermanentError(f"{FUNCTION_KEY}: is empty; it must define transform(record)")
        self._js: MiniRacer | None = MiniRacer()
        try:
            js = self._js
            js.set_hard_memory_limit(HEAP_LIMIT_BYTES)
            js.eval(_LOCKDOWN)
            try:
                js.eval(source, timeout_sec=CALL_LIMIT_S)
            except JSEvalException as exc:
                raise PermanentError(
                    f"{FUNCTION_KEY}: the JavaScript does not compile or run: {_first_line(exc)}"
                ) from exc
            try:
                kind = js.eval("typeof transform", timeout_sec=CALL_LIMIT_S)
            except JSTimeoutException as exc:
                with contextlib.suppress(JSEvalException):
                    js.eval("0")  # wait for V8 to finish stopping the call, as below
                raise PermanentError(
                    f"{FUNCTION_KEY}: looking up transform took longer than {CALL_LIMIT_S:g} s"
                ) from exc
            except JSEvalException as exc:
                raise PermanentError(
                    f"{FUNCTION_KEY}: the JavaScript does not compile or run: {_first_line(exc)}"
                ) from exc
            if kind != "function":
                raise PermanentError(
                    f"{FUNCTION_KEY}: the JavaScript must define a function named transform(record)"
                )
            js.eval(_DRIVER)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        js, self._js = getattr(self, "_js", None), None
        if js is not None:
            js.close()

    def transform_many(self, documents: Sequence[dict[str, Any]]) -> list[Transformed]:
        """Transform each record object; ``TransformFailed`` at the first failure."""
        if not documents:
            return []
        if self._js is None:
            raise PermanentError("the transformer is closed")
        limit = CALL_LIMIT_S + PER_RECORD_LIMIT_S * len(documents)
        try:
            payload = json.dumps(documents)
        except RecursionError:
            return self._up_to_too_deep(documents)
        try:
            raw = self._js.call("__sinksTransformMany", payload, timeout_sec=limit)
        except JSTimeoutException as exc:
            # Wait for V8 to finish stopping the call, so its late reply is not sent to a
            # closed isolate: a trivial call queues behind it.
            with contextlib.suppress(JSEvalException):
                self._js.eval("0")
            raise TransformFailed(0, f"transform did not finish within {limit:g} s", []) from exc
        except JSOOMException as exc:
            raise TransformFailed(0, "transform ran out of memory (256 MiB)", []) from exc
        except JSEvalException as exc:
            raise TransformFailed(0, f"transform failed: {_first_line(exc)}", []) from exc
        try:
            reply = json.loads(raw)
        except RecursionError:
            raise TransformFailed(0, "transform returned data nested too deeply", []) from None
        done = [_result(i, doc) for i, doc in enumerate(reply["done"])]
        if "failed" in reply:
            raise TransformFailed(
                int(reply["failed"]), f"transform threw: {_first_line(reply['error'])}", done
            )
        return done

    def _up_to_too_deep(self, documents: Sequence[dict[str, Any]]) -> list[Transformed]:
        """The records before the first one nested too deeply to pass to V8, then
        ``TransformFailed`` naming it."""
        for index, document in enumerate(documents):
            try:
                json.dumps(document)
            except RecursionError:
                done = self.transform_many(documents[:index])
                reason = "the event's data is nested too deeply to pass to the transformer"
                raise TransformFailed(index, reason, done) from None
        raise TransformFailed(0, "the batch is nested too deeply to pass to the transformer", [])


def source_problem(encoded_function: str) -> str | None:
    """Why a sink with this ``transformer:function`` could not start, or None.

    Builds the transformer exactly as a running sink does (compiled and its top-level
    code run in V8, under the same limits), so what validates also starts. In a
    process under an address-space limit (the evaluation worker of
    ``engine.config.isolation``), where V8 cannot start, it is built in a child without
    that limit, stopped after ``TRANSFORMER_CHECK_DEADLINE_S`` or beyond
    ``EVALUATION_MEMORY_BYTES`` of resident memory.
    """
    if address_space_limited():
        outcome = in_child(
            _problem_here, encoded_function, TRANSFORMER_CHECK_DEADLINE_S, EVALUATION_MEMORY_BYTES
        )
        if not isinstance(outcome, Stopped):
            return outcome
        if outcome.reason == "time":
            return f"checking the JavaScript took longer than {TRANSFORMER_CHECK_DEADLINE_S:g} s"
        if outcome.reason == "memory":
            mib = EVALUATION_MEMORY_BYTES // (1024 * 1024)
            return f"checking the JavaScript used more than {mib} MiB"
        return f"checking the JavaScript failed: {outcome.detail}"
    return _problem_here(encoded_function)


def _problem_here(encoded_function: str) -> str | None:
    try:
        Transformer(encoded_function).close()
    except PermanentError as exc:
        return str(exc).removeprefix(f"{FUNCTION_KEY}: ")
    return None


def _result(index: int, document: Any) -> Transformed:
    if not isinstance(document, dict):
        raise TransformFailed(index, "transform replaced the record with a non-object", [])
    headers = document.get("headers", {})
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise TransformFailed(index, "transform left record.headers that is not an object", [])
    schema = document.get("schemaInfo")
    subject = schema.get("subject") if isinstance(schema, dict) else None
    if not isinstance(subject, str):
        raise TransformFailed(index, "transform left record.schemaInfo.subject not a string", [])
    topic = document.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise TransformFailed(index, "transform left record.topic that is not a string", [])
    key = document.get("key")
    if key is not None and not isinstance(key, str):
        raise TransformFailed(index, "transform left record.key that is not a string", [])
    value = json.dumps(document.get("value"), separators=(",", ":"), ensure_ascii=False)
    return Transformed(
        value.encode(),
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()},
        subject,
        topic,
        None if key is None else key.encode(),
        "key" in document,
    )


def _first_line(error: object) -> str:
    """The error's first line, plus where in the user's code it was thrown when known."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    where = next((line for line in lines[1:] if line.startswith("at transform ")), None)
    return f"{lines[0]} ({where})" if where else lines[0]
