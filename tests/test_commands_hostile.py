"""Hostile payloads are refused before the core sees them, with the id exactly as it was sent,
and a refused id that no schema allows is never remembered (written to the journal)."""

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings

from pile_controller.backend.mqtt.commands import Security, decode
from pile_controller.core import commands as cmd
from pile_controller.core.times import iso
from tests.hostile import VALID, hostile

OPEN = Security(None, timedelta(seconds=300))
NOW = datetime.now(UTC)


@settings(max_examples=2000, deadline=None)
@given(hostile())
def test_a_hostile_payload_is_invalid_with_its_id(case: tuple[str, bytes, str | None]) -> None:
    name, payload, seen_id = case
    decoded = decode(name, payload, NOW, OPEN)
    assert decoded.command is None
    assert decoded.refusal == cmd.rejected("InvalidPayload")
    assert decoded.id == seen_id


def reserve(**changes: object) -> bytes:
    body = {"v": 1, "id": "c-1", "ts": iso(NOW), **VALID["reserve"], **changes}
    return json.dumps(body).encode()


def test_a_reservation_id_with_a_lone_surrogate_never_reaches_the_core() -> None:
    decoded = decode("reserve", reserve(reservation_id="\ud800R"), NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id == "c-1"
    assert decoded.remembered


def test_an_id_with_a_lone_surrogate_is_answered_as_sent_and_not_remembered() -> None:
    decoded = decode("reserve", reserve(id="\ud800R"), NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id == "\ud800R"
    assert not decoded.remembered


def test_an_id_past_128_characters_is_answered_whole_and_not_remembered() -> None:
    long_id = "c" * 129
    decoded = decode("reserve", reserve(id=long_id), NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id == long_id
    assert not decoded.remembered


def test_json_nested_a_thousand_deep_is_invalid_not_an_internal_error() -> None:
    payload = b'{"v":1,"id":"c-1","connector":' + b"[" * 1000 + b"]" * 1000 + b"}"
    decoded = decode("unlock", payload, NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload")


def test_an_integer_of_five_thousand_digits_is_invalid() -> None:
    payload = b'{"v":1,"id":"c-1","connector":' + b"9" * 5000 + b"}"
    decoded = decode("unlock", payload, NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id is None
