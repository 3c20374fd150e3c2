"""The message schemas are JSON Schema 2020-12, as docs/PROTOCOL.md says, and the pile's compiled
validator reads them as the reference validator does."""

from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from pile_controller.backend.mqtt import schemas

NAMES = sorted(
    p.name.removesuffix(".json")
    for p in resources.files("pile_controller.backend.mqtt").joinpath("schemas").iterdir()
    if p.name.endswith(".json")
)
# Keywords that mean the same in draft 7 (what fastjsonschema compiles) and 2020-12. Others
# (`prefixItems`, `$defs` with `$ref`, `unevaluatedProperties`, `dependentRequired`, ...) are
# read differently or not at all by draft 7: using one needs a validator that knows 2020-12.
SAME_IN_BOTH = {
    "$schema", "$id", "title", "description", "type", "properties", "required",
    "additionalProperties", "const", "enum", "minimum", "maximum", "minLength", "maxLength",
    "pattern", "format", "items", "minItems", "maxItems", "if", "then", "else", "allOf", "anyOf",
    "oneOf",
}  # fmt: skip


def keywords(node: object, names: bool = False) -> set[str]:
    """The keywords used in a schema; `names`: `node` maps property names to schemas."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not names:
                found.add(key)
            found |= keywords(value, names=key == "properties" and not names)
    elif isinstance(node, list):
        for item in node:
            found |= keywords(item)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_2020_12_schema(name: str) -> None:
    Draft202012Validator.check_schema(schemas.schema(name))


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_uses_only_keywords_both_drafts_read_alike(name: str) -> None:
    assert keywords(schemas.schema(name)) - SAME_IN_BOTH == set()


RESERVE = {
    "v": 1,
    "id": "c-1",
    "ts": "2026-11-22T07:00:00Z",
    "connector": 1,
    "reservation_id": "r-1",
    "code": "1234",
    "id_token": "t",
    "expires_at": "2026-11-22T08:00:00Z",
}


def test_a_code_with_a_trailing_newline_is_not_a_code() -> None:
    # `^[0-9]{4,12}$` matches "1234\n" in Python's re.search, as the reference validator uses it.
    refusal = schemas.first_error("command.reserve", RESERVE | {"code": "1234\n"})
    assert refusal == "code: must match pattern ^[0-9]{4,12}$"
    assert schemas.first_error("command.reserve", RESERVE) is None


@pytest.mark.parametrize("code", ["١٢٣٤", "１２３４", "12३4"])
def test_digits_are_ascii_digits(code: str) -> None:
    # JSON Schema's `\d` is ECMA-262's [0-9]; Python's would take any script's digits.
    assert schemas.first_error("command.reserve", RESERVE | {"code": code}) is not None
    late = RESERVE | {"expires_at": "２０２６-11-22T08:00:00Z"}
    assert schemas.first_error("command.reserve", late) is not None


def test_no_schema_writes_a_digit_as_backslash_d() -> None:
    for name in NAMES:
        assert "\\d" not in str(schemas.schema(name)), name
