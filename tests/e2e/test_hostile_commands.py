"""Ten thousand hostile command payloads against the running daemon, over a real broker: each
gets exactly one reply, `Rejected` / `InvalidPayload`, carrying exactly the id that was sent
(`null` only where none could be read); and none of them changes anything: no event, no status,
the reservation held, the tariff as it was, the event `seq` where it was."""

import json
import sqlite3
from typing import Any

from hypothesis import HealthCheck, given, settings

from rig.backend import in_minutes
from tests.hostile import hostile

PAYLOADS = 10_000
BURST = 50  # sent back to back, then their replies checked in order: one wait per burst
KEPT = ("state", "status", "reservation_id", "transaction_id", "relay_closed", "cable_locked")


def connectors(pile: Any) -> list[dict[str, Any]]:
    return [{k: c[k] for k in KEPT} for c in pile.status()["connectors"]]


def test_hostile_payloads_get_one_invalid_reply_each_and_change_nothing(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tariff = {
        "tariff_id": "T-KEEP",
        "currency": "CNY",
        "energy_price": "1.20",
        "service_fee": "0.80",
    }
    assert be.ask("tariff", **tariff)["status"] == "Accepted"
    reserve = {"reservation_id": "R-KEEP", "code": "2468", "id_token": "alice"}
    assert be.ask("reserve", connector=1, expires_at=in_minutes(600), **reserve)["status"] == (
        "Accepted"
    )
    be.status(1, state="reserved", reservation_id="R-KEEP")
    # The event leaves once its commit is on disk, which may be after the status: received
    # here first, it is not taken for one a hostile payload caused.
    be.event("reservation.accepted", reservation_id="R-KEEP")
    before = connectors(pile)
    start = be.mark()
    sent = 0
    burst: list[tuple[str, bytes, str | None]] = []
    burst_mark = be.mark()

    def check_burst() -> None:
        """Each payload of the burst got its own reply, in the order sent (one loop reads the
        commands and answers each in turn; the broker keeps one client's order)."""
        nonlocal burst_mark
        replies = be.wait_all(lambda m: m.topic == f"{be.base}/replies", len(burst), burst_mark)
        for (name, payload, seen_id), reply in zip(burst, replies, strict=True):
            expected = {"v": 1, "id": seen_id, "status": "Rejected", "reason": "InvalidPayload"}
            assert reply.payload == expected, (name, payload)
        burst.clear()
        burst_mark = be.mark()

    @settings(
        max_examples=PAYLOADS,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile())
    def one(case: tuple[str, bytes, str | None]) -> None:
        nonlocal sent
        name, payload, _ = case
        burst.append(case)
        be.raw(name, payload, acknowledged=False)
        sent += 1
        if len(burst) == BURST:
            check_burst()

    one()
    check_burst()
    assert sent >= PAYLOADS
    last = be.ask("cancel_reservation", reservation_id="nobody's")  # everything before is in
    assert last["reason"] == "UnknownReservation"
    after = [m for m in be.snapshot()[start:] if "/cmd/" not in m.topic]
    replies = [m for m in after if m.topic == f"{be.base}/replies"]
    assert len(replies) == sent + 1, "a command got no reply, or more than one"
    assert [m.topic for m in after if m.topic != f"{be.base}/replies"] == []  # no event, status
    assert connectors(pile) == before
    seq = max(e["seq"] for e in be.events())
    assert pile.stop() == 0
    journal = sqlite3.connect(pile.state / "journal.sqlite")
    stored = dict(journal.execute("SELECT key, value FROM meta").fetchall())
    journal.close()
    assert json.loads(stored["tariff"])["tariff_id"] == "T-KEEP"
    assert int(stored["seq"]) == seq  # no event was made, even unsent
