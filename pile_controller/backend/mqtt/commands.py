"""Checks on every command before the core sees it: JSON, schema, signature, age; then the
typed core command. Whatever arrives, the answer is a reply, never an exception."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pile_controller.backend.mqtt import schemas
from pile_controller.core import commands as cmd
from pile_controller.core.tariff import Tariff
from pile_controller.core.times import parse_iso
from pile_controller.core.transaction import Cap
from pile_controller.signing import verify


@dataclass(frozen=True)
class Security:
    public_key: bytes | None  # the backend's key; None: commands are not signed
    max_clock_skew: timedelta


@dataclass(frozen=True)
class Decoded:
    """A command read off the wire: its id (if one could be read), and either the core command
    or the reply that refuses it. `authentic` says whether its reply may be remembered for
    de-duplication: a forged message must not poison the id of a genuine one."""

    id: str | None
    command: cmd.Command | None = None
    refusal: cmd.Reply | None = None
    detail: str | None = None
    authentic: bool = True

    @property
    def remembered(self) -> bool:
        """Whether the reply is kept for de-duplication: only for an authentic command whose id
        is one a schema allows (at most 128 characters of text that UTF-8 can carry), so that
        neither a forgery nor a hostile id is written to the journal."""
        return self.authentic and self.id is not None and valid_id(self.id)


MAX_DEPTH = 16  # commands nest three deep; deeper is hostile, and would exhaust the stack
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def read_id(message: Any) -> str | None:
    """The command's id exactly as sent (the reply carries it back), if it is a string."""
    if isinstance(message, dict) and isinstance(message.get("id"), str) and message["id"]:
        return str(message["id"])
    return None


def valid_id(command_id: str) -> bool:
    return len(command_id) <= 128 and not unencodable(command_id)


def unencodable(text: str) -> bool:
    """A lone UTF-16 surrogate (valid in JSON's `\\ud800`, but no character): no UTF-8 for it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def nesting(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, counted before it is parsed: the
    parser's recursion would otherwise decide, by how deep the stack already is, how much a
    hostile payload may nest."""
    depth = deepest = 0
    for bracket in NOT_BRACKETS.sub("", STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def unreadable(message: Any) -> bool:
    """Whether a parsed message holds text (a key or a value) that is not Unicode characters:
    no command can carry it, and the journal could not store it."""
    stack = [message]
    while stack:
        value = stack.pop()
        if isinstance(value, str) and unencodable(value):
            return True
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def decode(name: str, payload: bytes, now: datetime, security: Security) -> Decoded:
    try:
        text = payload.decode("utf-8")
        if nesting(text) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH}")
        message = json.loads(text)
    except ValueError as exc:  # also an integer of over 4,300 digits
        return Decoded(None, refusal=cmd.rejected("InvalidPayload"), detail=f"not JSON: {exc}")
    cid = read_id(message)
    # Valid UTF-8 carries no lone surrogate: one can come only from a `\u` escape.
    if "\\u" in text and unreadable(message):
        return Decoded(cid, refusal=cmd.rejected("InvalidPayload"), detail="lone UTF-16 surrogate")
    if name not in schemas.command_names():
        return Decoded(cid, refusal=cmd.rejected("UnknownCommand"), detail=f"no command {name!r}")
    if security.public_key is not None:
        refusal = check_signature(message, now, security)
        if refusal is not None:
            return Decoded(cid, refusal=cmd.rejected(refusal), authentic=False)
    problem = schemas.first_error(f"command.{name}", message)
    if problem is None:
        try:
            return Decoded(cid, command=build(name, message))
        except ValueError as exc:
            problem = str(exc)
    return Decoded(cid, refusal=cmd.rejected("InvalidPayload"), detail=problem)


def check_signature(message: Any, now: datetime, security: Security) -> str | None:
    assert security.public_key is not None
    if not isinstance(message, dict) or not isinstance(message.get("sig"), str):
        return "BadSignature"
    unsigned = {k: v for k, v in message.items() if k != "sig"}
    if not verify(security.public_key, unsigned, message["sig"]):
        return "BadSignature"
    try:
        sent = parse_iso(str(message.get("ts")))
    except ValueError:
        return "Stale"
    return "Stale" if abs(now - sent) > security.max_clock_skew else None


def build(name: str, m: dict[str, Any]) -> cmd.Command:
    """The core command for a schema-valid message; ValueError for what a schema cannot say."""
    match name:
        case "reserve":
            return cmd.Reserve(
                m["connector"],
                m["reservation_id"],
                m["code"],
                m["id_token"],
                parse_iso(m["expires_at"]),
            )
        case "cancel_reservation":
            return cmd.CancelReservation(m["reservation_id"])
        case "start":
            cap = None
            if "max_cost" in m or "max_energy_wh" in m:
                cost = m.get("max_cost")
                cap = Cap(None if cost is None else Decimal(cost), m.get("max_energy_wh"))
            return cmd.RemoteStart(m["connector"], m["id_token"], m.get("reservation_id"), cap)
        case "stop":
            return cmd.RemoteStop(m["transaction_id"])
        case "payment":
            return cmd.Payment(
                m["transaction_id"], m["status"], Decimal(m["amount"]), m.get("qr_payload")
            )
        case "tariff":
            return cmd.SetTariff(Tariff.from_json(m))
        case "availability":
            return cmd.SetAvailability(m["connector"], m["available"])
        case "unlock":
            return cmd.Unlock(m["connector"])
        case "limit":
            amps = m["max_current_a"]
            return cmd.SetLimit(m["connector"], None if amps is None else float(amps))
        case "trigger":
            return cmd.Trigger(m["what"])
        case "diagnostics":
            return cmd.Diagnostics(m["url"])
        case "update":
            return cmd.Update(m["url"], m["sha256"], m["signature"])
    raise ValueError(f"no command {name!r}")


def reply_json(command_id: str | None, reply: cmd.Reply) -> str:
    body: dict[str, Any] = {"v": 1, "id": command_id, "status": str(reply.status)}
    if reply.reason:
        body["reason"] = reply.reason
    return json.dumps(body, separators=(",", ":"))
