"""The JSON Schemas of every message (docs/schemas links here): loaded once, used to check
incoming commands, and by the tests to check everything the pile publishes."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator for schemas/NAME.json (`command.reserve`, `event`, `status`, ...)."""
    text = resources.files(__package__).joinpath("schemas", f"{name}.json").read_text("utf-8")
    schema = json.loads(text)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


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
    error = next(iter(validator(name).iter_errors(message)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"
