"""Faults and deadlines: a fault raised stops the session and bills it, a cleared one lets the
connector come to rest; the timers of the reservation, the plug-in window, the relay's and the
lock's feedback, the meter's staleness and the release policy; and a step of the wall clock,
which moves what measures a duration and nothing else."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hal.pilot import FAULTY
from pile_controller.core import billing
from pile_controller.core import commands as cmd
from pile_controller.core import published as pub
from pile_controller.core.faults import CATALOGUE, FaultCode
from pile_controller.core.states import Trigger

if TYPE_CHECKING:
    from pile_controller.core.connector import Connector

# What `pilectl fault clear` may clear, once the hardware no longer shows it.
TECHNICIAN_CLEARS = {FaultCode.RELAY_WELDED, FaultCode.CABLE_LOCK_FAILURE, FaultCode.PILOT_FAULT}
STILL_SHOWN = {
    FaultCode.RELAY_WELDED: "the contactor's feedback still reports closed",
    FaultCode.CABLE_LOCK_FAILURE: "the lock's feedback still does not follow",
    FaultCode.PILOT_FAULT: "the pilot still reads E or F",
}


def clear_faults(c: Connector, now: datetime) -> cmd.Reply:
    """`pilectl fault clear N`: clears the faults a technician may clear (a welded
    contactor, a lock failure, a pilot fault) once the hardware no longer shows them."""
    c.now = now
    if not c.faults:
        return cmd.rejected("no fault to clear")
    for code in c.faults:
        if code not in TECHNICIAN_CLEARS:
            return cmd.rejected(f"{code} clears by itself when {CATALOGUE[code].clears}")
        if still_shown(c, code):
            return cmd.rejected(f"{code}: {STILL_SHOWN[code]}")
    for code in list(c.faults):
        set_fault(c, code, False)
    return cmd.ACCEPTED


def still_shown(c: Connector, code: FaultCode) -> bool:
    if code is FaultCode.RELAY_WELDED:
        return c.relay_feedback and not c.relay_closed
    if code is FaultCode.CABLE_LOCK_FAILURE:
        return c.lock_feedback != c.lock_locked
    return c.cp in FAULTY  # PilotFault


def set_fault(c: Connector, code: FaultCode, active: bool) -> None:
    if active == (code in c.faults):
        return
    fault = CATALOGUE[code]
    if not active:
        del c.faults[code]
        c.publish(pub.FaultCleared, code=str(fault.code), message=fault.message)
        c.step(Trigger.RECOVER)
        return
    if code is FaultCode.METER_FAILURE:
        fault = dataclasses.replace(fault, message=f"{fault.message}: {c.meter_problem}")
    c.faults[code] = fault
    c.publish(pub.FaultRaised, code=str(fault.code), message=fault.message)
    c.authorization = None
    c.end_reservation("Faulted", c.now)
    tx = c.transaction
    if tx is not None and not tx.finished:
        billing.request_stop(c, fault.stop_reason)
        if code is FaultCode.METER_FAILURE:
            billing.finish(c)  # no fresh reading will come: bill on the last good one
    c.step(Trigger.FAULT)


def tick(c: Connector) -> None:
    now, s = c.now, c.ctx.settings
    if c.reservation and now >= c.reservation.expires_at and not c.authorization:
        c.end_reservation("Expired", now)
    auth = c.authorization
    if auth and not c.plugged and now >= auth.plug_by:
        c.step(Trigger.LEAVE)
    if (
        not c.under_test
        and c.lock_feedback != c.lock_locked
        and c.lock_changed_at is not None
        and now - c.lock_changed_at >= timedelta(milliseconds=s.hal.lock_feedback_ms)
    ):
        set_fault(c, FaultCode.CABLE_LOCK_FAILURE, True)
    if (
        not c.under_test
        and c.relay_feedback != c.relay_closed
        and c.relay_changed_at is not None
        and now - c.relay_changed_at >= timedelta(milliseconds=s.hal.relay_feedback_ms)
    ):
        welded = FaultCode.RELAY_WELDED if c.relay_feedback else FaultCode.RELAY_FAILURE
        set_fault(c, welded, True)
    if not c.meter_is_fresh():
        set_fault(c, FaultCode.METER_FAILURE, True)
    tx = c.transaction
    release_after = s.payment.release_after_s
    if (
        release_after
        and tx is not None
        and tx.unpaid
        and c.unpaid_since
        and now - c.unpaid_since >= timedelta(seconds=release_after)
    ):
        billing.settle(c, "ReleasedByPolicy")


def clock_stepped(c: Connector, delta: timedelta) -> None:
    """Timers that measure a duration move with the step, so none fires early or waits
    late: feedback, meter staleness, the metering interval, lockout, the plug-in window and
    the release policy. Absolute times stay: a reservation expires at the time the backend
    gave, the times already on record (a transaction's start and stop) are not rewritten,
    and deadlines rebuilt from the journal keep the time they were set on."""
    if c.relay_changed_at is not None:
        c.relay_changed_at += delta
    if c.relay_opened_at is not None:
        c.relay_opened_at += delta
    if c.pwm_off_since is not None:
        c.pwm_off_since += delta
    if c.unused_since is not None:
        c.unused_since += delta
    if c.lock_changed_at is not None:
        c.lock_changed_at += delta
    c.meter_watch_since += delta
    if c.reading is not None and c.reading.at is not None:
        c.reading = dataclasses.replace(c.reading, at=c.reading.at + delta)
    if c.gate.locked_until is not None and "locked_until" not in c.from_journal:
        c.gate.locked_until += delta
    if c.authorization is not None:
        c.authorization.plug_by += delta
    if c.unpaid_since is not None and "unpaid_since" not in c.from_journal:
        c.unpaid_since += delta
    if c.transaction is not None and not c.transaction.finished:
        c.transaction.last_sample_at += delta
