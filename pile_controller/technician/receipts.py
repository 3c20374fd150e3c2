"""Checking a receipt as an auditor would (`pilectl receipt verify`): is it signed by this
pile's key, unchanged since, and does it add up? Every way it fails is one line saying what
does not match. PROTOCOL.md ("The receipt") says what is signed and how it maps to OCMF."""

from __future__ import annotations

import base64
import json
from typing import Any

from pile_controller.config import ed25519_key
from pile_controller.signing import verify


class ReceiptError(Exception):
    """What does not match, in one line."""


def public_key(text: str, where: str) -> bytes:
    """A raw Ed25519 public key from its base64 (as `--public-key` or a birth's `public_key`),
    checked as the config checks `backend.public_key`."""
    if (problem := ed25519_key(text)) is not None:
        raise ReceiptError(f"{where}: {problem}")
    return base64.b64decode(text)


def key_of_birth(text: str) -> tuple[bytes, str | None]:
    """The public key and pile id of a birth message (`P/ID/online`, as JSON)."""
    birth = parsed(text, "the birth message")
    if not isinstance(birth, dict) or not isinstance(birth.get("public_key"), str):
        raise ReceiptError("the birth message has no public_key (is it P/ID/online?)")
    pile = birth.get("pile")
    return public_key(birth["public_key"], "the birth message's public_key"), (
        pile if isinstance(pile, str) else None
    )


def parsed(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ReceiptError(f"{what} is not JSON: {exc}") from None


def receipt_in(document: Any) -> dict[str, Any]:
    """The receipt itself, given it, a `transaction.stopped` event, or that event's data."""
    candidates = [document]
    if isinstance(document, dict):
        data = document.get("data")
        candidates += [
            document.get("receipt"),
            data.get("receipt") if isinstance(data, dict) else None,
        ]
    for candidate in candidates:
        if isinstance(candidate, dict) and "sig" in candidate and "transaction_id" in candidate:
            return candidate
    raise ReceiptError("no receipt in it: want a receipt or a transaction.stopped event")


def check(text: str, key: bytes, pile: str | None = None) -> str:
    """One line describing a receipt that holds; ReceiptError saying what does not."""
    receipt = receipt_in(parsed(text, "the receipt"))
    facts = {k: v for k, v in receipt.items() if k != "sig"}
    if not isinstance(receipt["sig"], str) or not verify(key, facts, receipt["sig"]):
        raise ReceiptError(
            "the signature does not match: the receipt was changed after it was signed, "
            "or another key signed it"
        )
    if pile is not None and receipt.get("pile") != pile:
        raise ReceiptError(f"signed by pile {receipt.get('pile')!r}, not {pile!r} of the birth")
    start, stop, energy = (receipt.get(k) for k in ("meter_start_wh", "meter_stop_wh", "energy_wh"))
    adds_up = isinstance(start, int) and isinstance(stop, int) and stop - start == energy
    if not adds_up:
        raise ReceiptError(
            f"energy_wh {energy} is not meter_stop_wh {stop} - meter_start_wh {start}"
        )
    cost = receipt.get("cost") or {}
    meter = receipt.get("meter")
    measured = (
        f"meter {meter['vendor']} {meter['model']} serial {meter['serial'] or 'not reported'}"
        if isinstance(meter, dict)
        else "meter not named"
    )
    cap = receipt.get("cap")
    approved = (
        f" (the driver's cap: {cap.get('max_cost')} {cost.get('currency')}, "
        f"{cap.get('max_energy_wh')} Wh)"
        if isinstance(cap, dict)
        else ""
    )
    return (
        f"receipt OK: pile {receipt.get('pile')} connector {receipt.get('connector')}, "
        f"transaction {receipt['transaction_id']}, {energy} Wh ({measured}), "
        f"{cost.get('total')} {cost.get('currency')}{approved}"
    )
