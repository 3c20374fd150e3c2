"""The reserved user's walk (CONTRACT §6) through the core on simulated hardware."""

import base64
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.service.hardware import actuate
from pile_controller.signing import canonical, verify
from rig.bench import KEY, Bench


def test_reserved_session_walks_reserve_charge_pay_unlock_unplug() -> None:
    b = Bench()
    assert b.reserve(1, code="123456") == cmd.ACCEPTED
    assert b.c(1).state == "reserved"
    b.do("plug")
    assert b.c(1).state == "authenticating"
    assert not b.cable_locked()

    b.do("code", 1, "123456")
    assert b.c(1).state == "charging"
    assert b.cable_locked() and b.relay_closed()

    b.advance(3600)  # one hour at 7 kW
    b.do("stop_button")
    assert b.c(1).state == "awaiting_payment"
    assert not b.relay_closed() and b.cable_locked()

    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "Local"
    assert stopped["energy_wh"] == stopped["meter_stop_wh"] - stopped["meter_start_wh"] == 7000
    assert stopped["cost"] == {"total": "14.00", "currency": "CNY", "tariff_id": "T-FLAT"}
    assert b.events("payment.requested")[0]["amount"] == "14.00"

    assert b.pay() == cmd.ACCEPTED
    assert b.c(1).state == "unlocked" and not b.cable_locked()
    b.do("unplug")
    assert b.c(1).state == "idle"
    assert b.types() == [
        "reservation.accepted",
        "transaction.started",
        "reservation.ended",
        "meter.values",
        *["meter.values"] * 360,
        "meter.values",
        "transaction.stopped",
        "payment.requested",
        "payment.settled",
        "cable.unlocked",
    ]


def test_the_stop_reading_is_taken_after_the_relay_opened() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(10)
    b.mono += 0.5  # energy flows between the last poll and the button press
    b.do("stop_button")
    stopped = b.events("transaction.stopped")[0]
    assert stopped["meter_stop_wh"] == int(b.sim.meters[1].register_wh)


def test_receipt_is_signed_by_the_pile_key() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(60)
    b.do("stop_button")
    receipt = dict(b.events("transaction.stopped")[0]["receipt"])
    sig = receipt.pop("sig")
    assert verify(_public_raw(), receipt, sig)
    # and by an Ed25519 of another make, as an auditor's would
    public = Ed25519PublicKey.from_public_bytes(_public_raw())
    public.verify(base64.b64decode(sig), canonical(receipt))
    receipt["energy_wh"] += 1
    assert not verify(_public_raw(), receipt, sig)


def _public_raw() -> bytes:
    return base64.b64decode(KEY.public_b64)


def test_only_the_exact_amount_releases_the_cable() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    amount = b.c(1).transaction.amount  # type: ignore[union-attr]
    wrong = cmd.Payment(tx, "paid", amount + Decimal("0.01"))
    assert b.command(wrong) == cmd.rejected("AmountMismatch")
    assert b.c(1).state == "awaiting_payment" and b.cable_locked()
    assert b.command(cmd.Payment(tx, "paid", amount)) == cmd.ACCEPTED
    assert not b.cable_locked()


def test_payment_for_an_unknown_or_running_transaction_is_rejected() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    assert b.command(cmd.Payment("nope", "paid", Decimal(1))) == cmd.rejected("UnknownTransaction")
    assert b.command(cmd.Payment(tx, "paid", Decimal(0))) == cmd.rejected("TransactionRunning")
    assert b.c(1).state == "charging"


def test_a_second_paid_is_rejected_as_already_settled() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    assert b.pay() == cmd.ACCEPTED
    assert b.pay() == cmd.rejected("AlreadySettled")
    assert len(b.events("payment.settled")) == 1


def test_pending_payment_shows_the_backends_qr_payload() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    t = b.c(1).transaction
    assert t is not None and t.qr_payload and "pile=P1" in t.qr_payload
    reply = b.command(cmd.Payment(tx, "pending", t.amount or Decimal(0), "wxp://backend-qr"))
    assert reply == cmd.ACCEPTED
    assert t.qr_payload == "wxp://backend-qr"
    assert b.c(1).state == "awaiting_payment"


def test_wrong_codes_lock_the_keypad_out_then_it_reopens() -> None:
    b = Bench(reservation={"max_attempts": 3, "lockout_s": 300})
    b.reserve(1, code="123456")
    b.do("plug")
    for _ in range(3):
        b.do("code", 1, "000000")
    b.do("code", 1, "123456")  # right code, but locked out
    rejected = b.events("authorization.rejected")
    assert [(r["reason"], r["attempts_left"]) for r in rejected] == [
        ("WrongCode", 2),
        ("WrongCode", 1),
        ("WrongCode", 0),
        ("LockedOut", 0),
    ]
    assert b.c(1).state == "authenticating" and not b.cable_locked()
    b.advance(299)
    b.do("code", 1, "123456")
    assert b.c(1).state == "authenticating"
    b.advance(1)
    b.do("code", 1, "123456")
    assert b.c(1).state == "charging"
    assert all("123456" not in str(r) and "000000" not in str(r) for r in rejected)


def test_a_code_without_reservation_is_rejected() -> None:
    b = Bench()
    b.do("plug")
    b.do("code", 1, "123456")
    assert b.events("authorization.rejected") == [{"reason": "NoReservation", "attempts_left": 5}]
    assert b.c(1).state == "authenticating"


def test_reservation_expires() -> None:
    b = Bench()
    b.reserve(1, minutes=15)
    b.advance(15 * 60 - 1)
    assert b.c(1).state == "reserved"
    b.advance(1)
    assert b.c(1).state == "idle"
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Expired"}]


def test_reservation_expires_while_plugged_without_code() -> None:
    b = Bench()
    b.reserve(1, minutes=1)
    b.do("plug")
    b.advance(60)
    assert b.c(1).state == "authenticating" and b.c(1).reservation is None
    b.do("code", 1, "123456")
    assert b.events("authorization.rejected")[-1]["reason"] == "NoReservation"


def test_cancel_ends_the_reservation() -> None:
    b = Bench()
    b.reserve(1)
    assert b.command(cmd.CancelReservation("R1")) == cmd.ACCEPTED
    assert b.c(1).state == "idle"
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Cancelled"}]
    assert b.command(cmd.CancelReservation("R1")) == cmd.rejected("UnknownReservation")


def test_same_reservation_id_replaces_the_old_one() -> None:
    b = Bench()
    b.reserve(1, code="111111")
    assert b.reserve(1, code="222222", minutes=60) == cmd.ACCEPTED
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Replaced"}]
    b.do("plug")
    b.do("code", 1, "111111")
    assert b.c(1).state == "authenticating"
    b.do("code", 1, "222222")
    assert b.c(1).state == "charging"


def test_same_reservation_id_on_another_connector_moves_it() -> None:
    b = Bench()
    b.reserve(1)
    assert b.reserve(2) == cmd.ACCEPTED
    assert (b.c(1).state, b.c(2).state) == ("idle", "reserved")


def test_a_second_reservation_is_occupied() -> None:
    b = Bench()
    b.reserve(1, rid="R1")
    assert b.reserve(1, rid="R2") == cmd.Reply(cmd.ReplyStatus.OCCUPIED)
    assert b.c(1).reservation is not None and b.c(1).reservation.reservation_id == "R1"


def test_connector_zero_takes_any_free_connector() -> None:
    b = Bench()
    assert b.reserve(0, rid="R1") == cmd.ACCEPTED
    assert b.reserve(0, rid="R2") == cmd.ACCEPTED
    assert (b.c(1).reservation.reservation_id, b.c(2).reservation.reservation_id) == (  # type: ignore[union-attr]
        "R1",
        "R2",
    )
    assert b.reserve(0, rid="R3") == cmd.Reply(cmd.ReplyStatus.OCCUPIED)
    assert b.reserve(0, rid="R1", code="999999") == cmd.ACCEPTED  # replaced where it is


def test_reserving_a_faulted_or_unavailable_connector_says_so() -> None:
    b = Bench()
    b.command(cmd.SetAvailability(2, False))
    assert b.reserve(2) == cmd.Reply(cmd.ReplyStatus.UNAVAILABLE)
    b.sim.set_estop(True)
    b.apply([])
    assert b.reserve(1) == cmd.Reply(cmd.ReplyStatus.FAULTED)
    assert b.reserve(0) == cmd.Reply(cmd.ReplyStatus.FAULTED)


def test_reserve_with_a_past_expiry_or_unknown_connector_is_rejected() -> None:
    b = Bench()
    assert b.reserve(1, minutes=-1) == cmd.rejected("AlreadyExpired")
    assert b.reserve(7) == cmd.rejected("UnknownConnector")
    assert b.c(1).state == "idle" and b.published == []


def test_a_session_does_not_begin_on_lock_feedback_from_before_its_lock_command() -> None:
    """The previous session's cable is being released (its `released` feedback still on the
    way: a lock motor takes a while) when the next start comes: the old `locked` feedback must
    not pass for the new lock, or the relay would close on a cable that is letting go."""
    b = Bench()
    tid = b.start_reserved_session()
    b.advance(60)
    b.do("stop_button")
    tx = b.c(1).transaction
    assert tx is not None and tx.amount is not None
    _, effects = b.pile.command(cmd.Payment(tid, "paid", tx.amount), b.now)
    for effect in effects:
        actuate(b.hardware, effect)  # the lock is told to let go ...
    in_flight = list(b.inbox)  # ... and what it reports is still on its way
    b.inbox.clear()
    b.pile.handle(ev.Unplug(1), b.now)  # the driver leaves, the next one plugs in
    b.pile.handle(ev.PlugIn(1), b.now)
    _, effects = b.pile.command(cmd.RemoteStart(1, "app"), b.now)
    assert b.c(1).state == "authenticating"
    assert not any(isinstance(e, fx.CloseRelay) for e in effects)
    b.inbox.extend(in_flight)
    b.apply(effects)
    b.advance(1)  # the contactor rests a second after it opened (no chatter)
    assert b.c(1).state == "charging" and b.relay_closed() and b.cable_locked()
    assert b.hardware.refused == []
