"""Hostile command payloads, each one malformed for certain: what the pile must refuse with
`InvalidPayload` (and the command's id, where one can be read) and nothing else.

A valid message of every command, then one change that no schema allows: a field replaced by
text with a lone UTF-16 surrogate, digits of another script where the schema wants digits, an
id past 128 characters, nesting ~1,000 deep, an integer of over 4,300 digits; a required field
dropped or an unknown one added; or bytes that are not JSON at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from pile_controller.core.times import iso


def valid_messages(later: str) -> dict[str, dict[str, Any]]:
    """A valid message of every command (without `v`, `id`, `ts`), reservations expiring at
    `later`."""
    return {
        "reserve": {
            "connector": 1,
            "reservation_id": "R1",
            "code": "1234",
            "id_token": "u",
            "expires_at": later,
        },
        "cancel_reservation": {"reservation_id": "R1"},
        "start": {"connector": 1, "id_token": "u"},
        "stop": {"transaction_id": "TX1"},
        "payment": {"transaction_id": "TX1", "status": "paid", "amount": "1.20"},
        "tariff": {
            "tariff_id": "T2",
            "currency": "CNY",
            "energy_price": "1.00",
            "service_fee": "0.50",
            "periods": [{"start": "08:00", "energy_price": "1.50"}],
        },
        "availability": {"connector": 0, "available": False},
        "unlock": {"connector": 1},
        "trigger": {"what": "status"},
        "limit": {"connector": 1, "max_current_a": 16.0},
    }


VALID = valid_messages(iso(datetime.now(UTC) + timedelta(days=1)))
DIGIT_FIELDS = {"code", "amount", "energy_price", "service_fee"}  # schema: [0-9] patterns
NON_ASCII_DIGITS = ["١٢٣٤", "１２３４", "१२३४", "١.٢٠", "１.２０", "1.٢0"]

text = st.text(max_size=12)
with_surrogate = st.builds(lambda a, b: f"{a}\ud800{b}", text, text)  # valid JSON, no UTF-8
too_long = st.integers(129, 400).map(lambda n: "c" * n)
HUGE = "9" * 5000  # json.loads refuses integers of over 4,300 digits


class Raw(str):
    """A JSON text to splice in as it is (Python's json would not write it)."""


def deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes, str | None]:
    """(command name, payload, the id the pile can read back, or None)."""
    name = draw(st.sampled_from(sorted(VALID)))
    body: dict[str, Any] = {"v": 1, "id": f"h-{draw(st.uuids())}", "ts": iso(datetime.now(UTC))}
    body |= VALID[name]
    how = draw(
        st.sampled_from(["surrogate", "digits", "long id", "deep", "huge", "drop", "add", "bytes"])
    )
    if how == "bytes":
        junk = draw(st.binary(min_size=1, max_size=40).filter(lambda b: not b.strip().isdigit()))
        return name, b"\xff" + junk, None
    field = draw(st.sampled_from(sorted(body)))
    if how == "surrogate":
        body[field] = draw(with_surrogate)
    elif how == "digits":
        field = draw(st.sampled_from(sorted(DIGIT_FIELDS & body.keys()) or ["v"]))
        body[field] = draw(st.sampled_from(NON_ASCII_DIGITS))
    elif how == "long id":
        body["id"] = draw(too_long)
    elif how == "deep":
        body[field] = deep(draw(st.integers(17, 1200)))
    elif how == "huge":
        body[field] = Raw(HUGE)
    elif how == "drop":
        body.pop(draw(st.sampled_from(sorted(body.keys() - OPTIONAL))))
    else:
        body[draw(text.filter(lambda k: k not in body and k != "sig"))] = draw(text)
    payload = encode(body)
    # Nested past 16 or holding an integer Python will not read, the text is not read at all.
    return name, payload, None if how in ("deep", "huge") else readable_id(payload)


OPTIONAL = {"periods"}


def readable_id(payload: bytes) -> str | None:
    """The id as anyone reads it back: None where the text is no JSON object with one."""
    message = json.loads(payload)
    if isinstance(message, dict) and isinstance(message.get("id"), str) and message["id"]:
        return str(message["id"])
    return None


def encode(body: dict[str, Any]) -> bytes:
    parts = []
    for key, value in body.items():
        text_value = value if isinstance(value, Raw) else json.dumps(value)
        parts.append(f"{json.dumps(key)}:{text_value}")
    return ("{" + ",".join(parts) + "}").encode("utf-8", "surrogatepass")
