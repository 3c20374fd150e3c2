"""OCPP-J's RPC framing (OCPP-J 1.6 §4, 2.0.1 part 4 §4): a CALL `[2, id, action, payload]`,
its CALLRESULT `[3, id, payload]` or CALLERROR `[4, id, code, description, details]`, every
payload checked against the official JSON schemas, which ship inside the `ocpp` package: read
from its folder and compiled by fastjsonschema one action at a time, as they are first needed,
without importing the package (its import costs 18 MB; docs/BENCHMARKS.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import fastjsonschema

CALL, CALLRESULT, CALLERROR = 2, 3, 4

# A schema's failed rule as the error OCPP names it: the table ocpp-rpc (strict mode) uses, so
# a CSMS that checks us and the pile that checks it agree on the words.
ERROR_OF_RULE = {
    "maximum": "FormationViolation",
    "minimum": "FormationViolation",
    "maxLength": "FormationViolation",
    "minLength": "FormationViolation",
    "exclusiveMaximum": "OccurenceConstraintViolation",
    "exclusiveMinimum": "OccurenceConstraintViolation",
    "multipleOf": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "required": "OccurenceConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "additionalProperties": "PropertyConstraintViolation",
    "type": "TypeConstraintViolation",
}


class RpcError(Exception):
    """What a CALLERROR says: `code` as OCPP names it, `description` in words."""

    def __init__(self, code: str, description: str):
        super().__init__(f"{code}: {description}")
        self.code, self.description = code, description


@dataclass(frozen=True)
class Call:
    id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallError:
    id: str
    code: str
    description: str


Frame = Call | CallResult | CallError


class Schemas:
    """The official schemas of one OCPP version (`v16`, `v201`), as the `ocpp` package ships
    them. Version 2.0.1's files are `ActionRequest.json` / `ActionResponse.json`; 1.6's are
    `Action.json` / `ActionResponse.json`."""

    def __init__(self, version: str, request_suffix: str = ""):
        spec = find_spec("ocpp")
        assert spec is not None and spec.submodule_search_locations is not None
        self.folder = Path(spec.submodule_search_locations[0]) / version / "schemas"
        self.request_suffix = request_suffix
        self._validator = cache(self._compile)

    def known(self, action: str) -> bool:
        return (self.folder / f"{action}{self.request_suffix}.json").exists()

    def check(self, action: str, payload: Any, response: bool = False) -> None:
        """RpcError (with the code OCPP names) unless `payload` fits the action's schema."""
        name = f"{action}{'Response' if response else self.request_suffix}"
        try:
            self._validator(name)(payload)
        except fastjsonschema.JsonSchemaValueException:
            pass
        else:
            return
        # Which rule failed, from a validator that says so: compiled only for a breach, and
        # not kept, since writing every subschema into its code costs a 2.0.1 schema up to
        # 18 MB of memory while it compiles.
        try:
            self._compile(name, detailed=True)(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            code = ERROR_OF_RULE.get(exc.rule or "", "FormationViolation")
            raise RpcError(code, exc.message[:200]) from None

    def _compile(self, name: str, detailed: bool = False) -> Callable[[Any], Any]:
        schema = _rules(json.loads((self.folder / f"{name}.json").read_text()))
        schema.pop("$id", None)  # an id is a URL fastjsonschema would try to resolve
        schema.pop("id", None)
        return fastjsonschema.compile(schema, detailed_exceptions=detailed)


def _rules(schema: Any) -> Any:
    """The schema without its prose (descriptions, the generator's class names), which a
    compiled validator would otherwise carry as constants."""
    if isinstance(schema, dict):
        return {k: _rules(v) for k, v in schema.items() if k not in PROSE}
    if isinstance(schema, list):
        return [_rules(v) for v in schema]
    return schema


PROSE = frozenset({"description", "javaType", "comment", "$comment"})


def decode(text: str) -> Frame:
    """One frame; RpcError (`ProtocolError` / `FormationViolation`) for what is not one. The
    error's id, where one could be read, is in `unanswerable_id`."""
    try:
        frame = json.loads(text)
    except ValueError:
        raise RpcError("FormationViolation", "not JSON") from None
    if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
        raise RpcError("FormationViolation", "not an OCPP-J frame")
    kind, mid = frame[0], frame[1]
    if kind == CALL and len(frame) == 4 and isinstance(frame[2], str):
        if not isinstance(frame[3], dict):
            raise FrameError(mid, "TypeConstraintViolation", "the payload is not an object")
        return Call(mid, frame[2], frame[3])
    if kind == CALLRESULT and len(frame) == 3:
        return CallResult(mid, frame[2] if isinstance(frame[2], dict) else {})
    if kind == CALLERROR and len(frame) in (4, 5):
        return CallError(mid, str(frame[2]), str(frame[3]))
    raise FrameError(mid, "FormationViolation", "not an OCPP-J frame")


class FrameError(RpcError):
    """A frame whose id could be read: the CALLERROR goes to that id."""

    def __init__(self, mid: str, code: str, description: str):
        super().__init__(code, description)
        self.mid = mid


def call(mid: str, action: str, payload: dict[str, Any]) -> str:
    return _text([CALL, mid, action, payload])


def result(mid: str, payload: dict[str, Any]) -> str:
    return _text([CALLRESULT, mid, payload])


def error(mid: str, code: str, description: str) -> str:
    return _text([CALLERROR, mid, code, description[:255], {}])


def _text(frame: list[Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
