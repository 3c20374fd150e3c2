"""The JSON Schemas of every message (docs/schemas links here): loaded once, used to check
incoming commands, and by the tests to check everything the pile publishes.

Each schema is compiled to Python by fastjsonschema on first use: checking a command then takes
a few microseconds instead of the ~40 µs of an interpreting validator, on the path of every reply.
It also enforces `format: date-time` and anchors `$` at the very end of a string (so "1234\\n" is
not a code). Digits are ASCII digits, as ECMA-262 (which JSON Schema follows) means by `\\d`:
the schemas spell them `[0-9]`, and the date-time check is given the same (Python's `\\d` would
also take "١٢٣٤" or "１２３４"). The schemas use only keywords whose meaning is the same in
drafts 7 and 2020-12; tests/test_schemas.py holds them to that list and to the 2020-12
meta-schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from fastjsonschema.draft04 import CodeGeneratorDraft04

# fastjsonschema's own date-time pattern, with ASCII digits.
FORMATS = {"date-time": CodeGeneratorDraft04.FORMAT_REGEXS["date-time"].replace(r"\d", "[0-9]")}


@cache
def schema(name: str) -> dict[str, Any]:
    """schemas/NAME.json (`command.reserve`, `event`, `status`, ...), parsed."""
    text = resources.files(__package__).joinpath("schemas", f"{name}.json").read_text("utf-8")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@cache
def validator(name: str) -> Callable[[Any], Any]:
    """Raises fastjsonschema.JsonSchemaValueException where a message breaks schema NAME."""
    return fastjsonschema.compile(schema(name), formats=FORMATS)


@cache
def command_names() -> frozenset[str]:
    folder = resources.files(__package__).joinpath("schemas")
    return frozenset(
        p.name[len("command.") : -len(".json")]
        for p in folder.iterdir()
        if p.name.startswith("command.")
    )


def first_error(name: str, message: Any) -> str | None:
    """One line saying where `message` breaks schema NAME, or None if it does not."""
    try:
        validator(name)(message)
    except fastjsonschema.JsonSchemaValueException as error:
        where = "/".join(error.path[1:]) or "(root)"
        if error.rule == "required" and isinstance(error.value, dict):
            missing = [k for k in error.rule_definition if k not in error.value]
            return f"{where}: missing {', '.join(missing)}"
        # "data.connector must be ..." -> "connector: must be ..."
        return f"{where}: {error.message.removeprefix(error.name or '').lstrip()}"
    return None
