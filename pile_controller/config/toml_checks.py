"""Reading parsed TOML against a tree of `Key`s: types, checks, defaults and unknown keys, every
problem as one line naming its key (`connectors[0].meter.port: expected an integer, got a
string`), all of them at once. What the keys are is the settings' own definition
(`pile_controller.config`); this module only knows how to read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Key:
    kind: str  # "int", "number", "str", "bool", "table", "array"
    required: bool = False
    default: Any = None
    check: Check | None = None
    table: dict[str, Key] | None = None  # for "table" and for an "array" of tables


def between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}, got {v}"


def one_of(*choices: str) -> Check:
    names = ", ".join(f'"{c}"' for c in choices)
    return lambda v: None if v in choices else f"must be one of {names}, got {v!r}"


def matches(pattern: re.Pattern[str], what: str) -> Check:
    return lambda v: None if pattern.match(v) else f"must be {what}, got {v!r}"


KIND_NAMES = {
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "bool": "true or false",
    "table": "a table",
    "array": "an array of tables",
    "pin": "a BCM pin number or a table { pin = N, active_low = true }",
}


def type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
        list: "an array",
    }
    return names.get(type(value), type(value).__name__)


def has_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    return {
        "int": isinstance(value, int),
        "number": isinstance(value, int | float),
        "str": isinstance(value, str),
        "table": isinstance(value, dict),
        "array": isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "pin": isinstance(value, int | dict),
    }.get(kind, False)


def read_table(
    raw: dict[str, Any], spec: dict[str, Key], path: str, problems: list[str]
) -> dict[str, Any]:
    """Checks `raw` against `spec`, filling defaults; appends every problem to `problems`."""
    prefix = f"{path}." if path else ""
    for name in raw:
        if name not in spec:
            problems.append(f"{prefix}{toml_key(name)}: unknown key")
    out: dict[str, Any] = {}
    for name, key in spec.items():
        where = f"{prefix}{name}"
        if name not in raw:
            if key.required:
                problems.append(f"{where}: required key is missing")
            out[name] = (
                read_value(key.default, key, where, problems) if key.default is not None else None
            )
            continue
        out[name] = read_value(raw[name], key, where, problems)
    return out


def toml_key(name: str) -> str:
    """The key as TOML would write it: bare if it can be, else quoted (a key with a newline
    must not break the one-line-per-problem rule)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def read_value(value: Any, key: Key, where: str, problems: list[str]) -> Any:
    if not has_kind(value, key.kind):
        problems.append(f"{where}: expected {KIND_NAMES[key.kind]}, got {type_name(value)}")
        return None
    if key.kind == "pin" and key.table is not None:  # `5` is short for `{ pin = 5 }`
        return read_table(
            value if isinstance(value, dict) else {"pin": value}, key.table, where, problems
        )
    if key.kind == "table" and key.table is not None:
        return read_table(value, key.table, where, problems)
    if key.kind == "array" and key.table is not None:
        return [
            read_table(item, key.table, f"{where}[{i}]", problems) for i, item in enumerate(value)
        ]
    if key.check is not None:
        problem = key.check(value)
        if problem:
            problems.append(f"{where}: {problem}")
            return None
    return value
