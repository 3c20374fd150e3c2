"""What of a connector survives a restart: journaled with every step, rebuilt at the start."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pile_controller.core import power
from pile_controller.core.effects import (
    PublishStatus,
    ReadMeter,
)
from pile_controller.core.reservations import Reservation
from pile_controller.core.states import Trigger
from pile_controller.core.times import iso, parse_iso
from pile_controller.core.transaction import Transaction

if TYPE_CHECKING:
    from pile_controller.core.connector import Connector


def snapshot(c: Connector) -> dict[str, Any]:
    """The facts that must survive a crash: journaled in the commit of every step."""
    r, tx = c.reservation, c.transaction
    return {
        "transaction": tx.to_json() if tx else None,
        "reservation": {
            "reservation_id": r.reservation_id,
            "code": r.code,
            "id_token": r.id_token,
            "expires_at": iso(r.expires_at),
        }
        if r
        else None,
        "disabled": c.disabled,
        "limit": c.backend_limit,
        "wrong_codes": c.gate.wrong,
        "locked_out_until": iso(c.gate.locked_until) if c.gate.locked_until else None,
    }


def restore(c: Connector, snapshot: dict[str, Any], now: datetime) -> None:
    """Rebuilds the connector after a restart from its last journaled snapshot.

    A session the daemon lost mid-charge is stopped (reason PowerLoss) on the meter's first
    reading and billed; an unpaid one waits for payment again, its cable locked. The relay is
    open after a restart (the outputs reset with the process), so nothing resumes charging.
    """
    c.now = now
    c.disabled = snapshot["disabled"]
    c.backend_limit = snapshot.get("limit")  # journals before the pilot have none
    c.gate.wrong = snapshot["wrong_codes"]
    until = snapshot["locked_out_until"]
    c.gate.locked_until = parse_iso(until) if until else None
    if until:
        c.from_journal.add("locked_until")
    r = snapshot["reservation"]
    if r is not None:
        c.reservation = Reservation(
            r["reservation_id"], r["code"], r["id_token"], parse_iso(r["expires_at"])
        )
    t = snapshot["transaction"]
    tx = c.transaction = Transaction.from_json(t) if t else None
    if tx is not None and tx.settled is None:
        power.command_lock(c, True)
    if tx is not None and not tx.finished:
        tx.stop_reason = tx.stop_reason or "PowerLoss"
        c.emit(ReadMeter(c.id))
    elif tx is not None and tx.unpaid:
        c.unpaid_since = tx.stopped_at
        c.from_journal.add("unpaid_since")
    c.announced_available = not c.disabled  # as the backend last heard it
    c.step(Trigger.RESTORE)
    c.emit(PublishStatus(c.id))
