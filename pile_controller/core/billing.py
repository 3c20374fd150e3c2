"""A connector's session and its bill: it begins on a fresh reading, is metered reading by
reading, stops on the reading after the relay opened, asks for payment and is settled. Every
billing fact is published as an event, journaled before anything that depends on it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from hal.pilot import CpState
from pile_controller.core import events as ev
from pile_controller.core import power, supervision
from pile_controller.core import published as pub
from pile_controller.core.effects import (
    Publish,
    PublishStatus,
    ReadMeter,
    Redraw,
)
from pile_controller.core.faults import FaultCode
from pile_controller.core.states import State, Trigger
from pile_controller.core.tariff import round_money
from pile_controller.core.transaction import Transaction

if TYPE_CHECKING:
    from pile_controller.core.connector import Connector

SUSPENDED_EV_BELOW_W = 10.0  # a vehicle drawing less than this is not charging


def meter_values(c: Connector, context: str, now: datetime) -> None:
    """Publishes the current reading (for `trigger meter` and the transaction's samples)."""
    c.now = now
    r = c.reading
    if r is None or not c.meter_is_fresh():
        return  # the last good reading is never published as if it were new
    tx = c.transaction
    c.publish(
        pub.MeterValues,
        transaction_id=tx.transaction_id if tx and not tx.finished else None,
        energy_register_wh=r.energy_register_wh,
        power_w=r.power_w,
        voltage_v=r.voltage_v,
        current_a=r.current_a,
        context=context,
    )


def suspended(c: Connector) -> str | None:
    """While charging: "EVSE" if the pile withholds power, "EV" if the vehicle draws
    nothing; None otherwise (OCPP's SuspendedEVSE and SuspendedEV)."""
    if c.state is not State.CHARGING:
        return None
    if not c.relay_closed:
        # The pile withholds power (no offer, a stop, a fault) unless it offers and the
        # vehicle does not ask for it.
        asked = c.pilot_offer is not None and c.cp is CpState.B
        return "EV" if asked and power.session_may_draw(c) else "EVSE"
    tx = c.transaction
    if tx is not None and tx.power_w < SUSPENDED_EV_BELOW_W:
        return "EV"
    return None


def open_transaction(c: Connector) -> None:
    """The session begins on the current reading; the reservation it used ends."""
    auth, reading = c.authorization, c.reading
    assert auth is not None and reading is not None
    c.authorization = None
    register = reading.energy_register_wh
    tx = Transaction(
        transaction_id=c.ctx.new_transaction_id(),
        id_token=auth.id_token,
        reservation_id=auth.reservation_id,
        started_at=c.now,
        meter_start_wh=register,
        tariff=c.ctx.tariff,
        meter_last_wh=register,
        last_sample_at=c.now,
        power_w=reading.power_w,
        meter=reading.meter.as_json() if reading.meter else None,
        cap=auth.cap,
    )
    c.transaction = tx
    c.publish(
        pub.TransactionStarted,
        transaction_id=tx.transaction_id,
        reservation_id=tx.reservation_id,
        id_token=tx.id_token,
        meter_start_wh=register,
        started_at=c.now,
    )
    c.drop_reservation("Used")


def energize(c: Connector) -> None:
    """The PWM comes on (the pile's share decides the offer) and the contactor closes once
    the vehicle asks for power (`power.reconcile`)."""
    meter_values(c, "Transaction.Begin", c.now)


def request_stop(c: Connector, reason: str) -> None:
    tx = c.transaction
    if tx is None or tx.finished or tx.stop_reason is not None:
        return
    tx.stop_reason = reason
    power.reconcile(c)  # opens the relay first ...
    c.emit(ReadMeter(c.id))  # ... so the stop reading includes everything


def meter_reading(c: Connector, reading: ev.Reading) -> None:
    tx = c.transaction
    last = c.reading.energy_register_wh if c.reading else None
    if tx is not None and not tx.finished:
        last = max(last or 0, tx.meter_last_wh)  # also after a restart, from the journal
    if last is not None and reading.energy_register_wh < last:
        # Not a reading: for as long as it lasts the meter looks silent, and MeterFailure
        # names the cause.
        c.meter_problem = (
            f"import register went backwards from {last} to {reading.energy_register_wh} Wh"
        )
        return
    c.reading = reading
    power.watch_unused(c)
    supervision.set_fault(c, FaultCode.METER_FAILURE, False)
    if tx is not None and not tx.finished:
        tx.metered(reading.energy_register_wh, reading.power_w, c.now, c.ctx.zone)
        interval = timedelta(seconds=c.ctx.settings.metering.interval_s)
        if tx.stop_reason is not None:
            finish(c)
        elif reached := tx.limit_reached():
            request_stop(c, reached)  # the relay opens now; the next reading bills it
        elif c.now - tx.last_sample_at >= interval:
            tx.last_sample_at = c.now
            meter_values(c, "Sample.Periodic", c.now)
            c.emit(PublishStatus(c.id))
    c.try_begin()


def finish(c: Connector) -> None:
    """Closes the transaction on the last good reading and asks for payment."""
    tx = c.transaction
    assert tx is not None and tx.stop_reason is not None
    if c.reading is not None:
        meter_values(c, "Transaction.End", c.now)
    tx.close(c.now)
    c.unpaid_since = c.now
    c.from_journal.discard("unpaid_since")
    c.emit(Publish(tx.stopped_event(c.ctx.settings.pile.id, c.id, c.now, c.ctx.sign)))
    c.step(Trigger.FINISH)
    if tx.amount == 0:
        settle(c, "Free")
        return
    if not c.ctx.settings.payment.hold_cable:  # as any charger: the backend bills the account
        settle(c, "ReleasedByPolicy")
        return
    template = c.ctx.settings.payment.url_template
    ask_payment(c, tx.payment_url(template, c.ctx.settings.pile.id, c.id))


def final_cost(c: Connector, amount: Decimal, qr_payload: str | None) -> None:
    """The backend's final cost (OCPP's California Pricing `FinalCost`) replaces the pile's
    amount and, if it gives one, the payment QR code; the driver then pays that amount."""
    tx = c.transaction
    assert tx is not None and tx.unpaid
    # Written as the pile writes money (9.5 -> 9.50) where that is the same amount.
    rounded = round_money(amount, tx.tariff.currency)
    tx.amount = tx.capped(rounded if rounded == amount else amount)
    if tx.amount == 0:
        settle(c, "Free")
        return
    # Without the backend's own code, the pile's, for the new amount.
    template = c.ctx.settings.payment.url_template
    ask_payment(c, qr_payload or tx.payment_url(template, c.ctx.settings.pile.id, c.id))
    c.emit(Redraw(c.id))


def ask_payment(c: Connector, qr_payload: str) -> None:
    """The amount and the QR code the driver pays with, on the screen and to the backend."""
    tx = c.transaction
    assert tx is not None and tx.amount is not None
    tx.qr_payload = qr_payload
    c.publish(
        pub.PaymentRequested,
        transaction_id=tx.transaction_id,
        amount=tx.amount,
        currency=tx.tariff.currency,
        qr_payload=qr_payload,
    )


def settle(c: Connector, how: str) -> None:
    tx = c.transaction
    assert tx is not None and tx.unpaid and tx.amount is not None
    tx.settled = how
    c.publish(
        pub.PaymentSettled,
        transaction_id=tx.transaction_id,
        amount=tx.amount,
        currency=tx.tariff.currency,
        how=how,
    )
    if c.step(Trigger.SETTLE):
        c.step(Trigger.LEAVE)  # if the vehicle has gone already
