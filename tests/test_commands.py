"""Command checks: JSON, schema, signature and age, before the core sees anything."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pile_controller.backend.mqtt.commands import Security, decode
from pile_controller.core import commands as cmd
from pile_controller.core.times import iso
from pile_controller.signing import canonical

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
OPEN = Security(None, timedelta(seconds=300))
BACKEND_KEY = Ed25519PrivateKey.generate()
SIGNED = Security(
    BACKEND_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), timedelta(seconds=300)
)


def reserve(**changes: Any) -> dict[str, Any]:
    body = {
        "v": 1,
        "id": "c-1",
        "ts": iso(NOW),
        "connector": 1,
        "reservation_id": "R1",
        "code": "123456",
        "id_token": "u",
        "expires_at": iso(NOW + timedelta(hours=1)),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def signed(body: dict[str, Any]) -> bytes:
    sig = base64.b64encode(BACKEND_KEY.sign(canonical(body))).decode()
    return json.dumps({**body, "sig": sig}).encode()


def test_a_valid_reserve_becomes_the_core_command() -> None:
    d = decode("reserve", json.dumps(reserve()).encode(), NOW, OPEN)
    assert d.id == "c-1" and d.refusal is None
    assert d.command == cmd.Reserve(1, "R1", "123456", "u", NOW + timedelta(hours=1))


def test_not_json_is_invalid_payload_with_no_id() -> None:
    d = decode("reserve", b"{not json", NOW, OPEN)
    assert (d.id, d.refusal) == (None, cmd.rejected("InvalidPayload"))


def test_schema_breaks_are_invalid_payload_with_the_id() -> None:
    for bad in (
        reserve(code="12"),
        reserve(connector="1"),
        reserve(extra=1),
        reserve(reservation_id=None),
        reserve(expires_at="tomorrow"),
    ):
        d = decode("reserve", json.dumps(bad).encode(), NOW, OPEN)
        assert (d.id, d.refusal) == ("c-1", cmd.rejected("InvalidPayload")), bad
        assert d.detail


def test_a_json_array_or_number_is_invalid_payload() -> None:
    for payload in (b"[1,2]", b"42", b'"x"', b"null", "\u00ff".encode("latin-1")):
        assert decode("stop", payload, NOW, OPEN).refusal == cmd.rejected("InvalidPayload")


def test_unknown_command_name_is_rejected() -> None:
    d = decode("selfdestruct", json.dumps({"v": 1, "id": "x", "ts": iso(NOW)}).encode(), NOW, OPEN)
    assert d.refusal == cmd.rejected("UnknownCommand")


def test_payment_pending_needs_a_qr_payload() -> None:
    body = {
        "v": 1,
        "id": "p",
        "ts": iso(NOW),
        "transaction_id": "t",
        "status": "pending",
        "amount": "1.00",
    }
    assert decode("payment", json.dumps(body).encode(), NOW, OPEN).refusal is not None
    body["qr_payload"] = "https://pay/x"
    assert decode("payment", json.dumps(body).encode(), NOW, OPEN).refusal is None


def test_money_must_be_a_decimal_string_never_a_float() -> None:
    body = {
        "v": 1,
        "id": "p",
        "ts": iso(NOW),
        "transaction_id": "t",
        "status": "paid",
        "amount": 1.0,
    }
    assert decode("payment", json.dumps(body).encode(), NOW, OPEN).refusal == cmd.rejected(
        "InvalidPayload"
    )


def test_a_correctly_signed_command_is_accepted() -> None:
    d = decode("reserve", signed(reserve()), NOW, SIGNED)
    assert d.refusal is None and d.authentic


def test_unsigned_or_tampered_commands_are_bad_signature_and_not_authentic() -> None:
    tampered = json.loads(signed(reserve()))
    tampered["connector"] = 2
    for payload in (json.dumps(reserve()).encode(), json.dumps(tampered).encode()):
        d = decode("reserve", payload, NOW, SIGNED)
        assert d.refusal == cmd.rejected("BadSignature") and not d.authentic


def test_a_signed_command_too_far_from_the_pile_clock_is_stale() -> None:
    old = reserve(ts=iso(NOW - timedelta(seconds=301)))
    assert decode("reserve", signed(old), NOW, SIGNED).refusal == cmd.rejected("Stale")
    fresh = reserve(ts=iso(NOW - timedelta(seconds=299)))
    assert decode("reserve", signed(fresh), NOW, SIGNED).refusal is None
