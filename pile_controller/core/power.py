"""The power path, for a safety reviewer to read alone: the control pilot's offer, the
contactor and the cable lock, as functions of one connector. Two rules hold after every step,
whatever happened (`reconcile`, run by `Connector.drain`):

1. the relay is closed only in `charging`, while the lock reports locked, the vehicle is plugged
   and asks for power on the control pilot (C, or D where the connector ventilates), the PWM
   offers a current (or was withdrawn less than 6 s ago), no stop is pending and no fault is
   active; once opened it rests a second before it closes again;
2. the cable lock is released only in `idle`, `reserved`, `unlocked` and `unavailable`, never while
   the relay is closed or reports closed, and never while a transaction is unpaid.

Beneath this, the interlock (`hal/interlock.py`) opens a relay the moment an input makes it
unsafe, whatever the core believes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from hal.pilot import CLEARS_FAULT, FAULTY, MIN_A, CpState, asks_for_power
from pile_controller.core import published as pub
from pile_controller.core import supervision
from pile_controller.core.effects import (
    CloseRelay,
    LockCable,
    Note,
    OpenRelay,
    SetPilot,
    UnlockCable,
)
from pile_controller.core.faults import FaultCode
from pile_controller.core.sharing import Claim
from pile_controller.core.states import RELEASABLE, State

if TYPE_CHECKING:
    from pile_controller.core.connector import Connector

# The contactor stays open at least this long before it closes again: a pilot that flaps
# between B and C must not make it chatter (contactors are rated for a few 100,000 cycles).
MIN_OPEN = timedelta(seconds=1)
# PWM withdrawn while the vehicle stays in C: IEC 61851-1 gives it this long to stop drawing
# before the contactor opens under load.
PWM_WITHDRAWN_GRACE = timedelta(seconds=6)
# A vehicle using this much less than offered for UNUSED_AFTER leaves the rest to the others.
UNUSED_MARGIN_A = 1.0
UNUSED_AFTER = timedelta(seconds=30)


def awaits_feedback(c: Connector) -> bool:
    return c.relay_feedback != c.relay_closed or c.lock_feedback != c.lock_locked


def claim(c: Connector) -> Claim | None:
    """What this connector asks of the site's current, while its PWM is to be on."""
    tx = c.transaction
    if not session_may_draw(c) or tx is None:
        return None
    if c.pp_read and c.pp_a is None and not tethered(c):
        return None  # an open or out-of-band PP is no cable: the pilot stays off
    limits = [c.settings.max_current_a]
    if c.pp_a is not None and not tethered(c):
        limits.append(c.pp_a)
    if c.backend_limit is not None:
        limits.append(c.backend_limit)
    if c.unused_cap is not None:
        limits.append(max(MIN_A, c.unused_cap))
    return Claim(c.id, min(limits), tx.started_at)


def tethered(c: Connector) -> bool:
    """A fixed cable: no proximity (PP) limit to read."""
    return c.settings.cable == "tethered"


def engage_lock(c: Connector) -> None:
    if not c.lock_locked and not c.under_test:  # end_test engages it then
        command_lock(c, True)
    c.try_begin()


def command_lock(c: Connector, locked: bool) -> None:
    """Asks the lock to move. What its feedback said before no longer counts: a session
    begins only on feedback that came after the command (a release still on its way
    must not pass for the new lock)."""
    c.lock_locked = locked
    c.lock_changed_at = None
    c.lock_reported = False
    c.lock_untouched = False
    c.emit(LockCable(c.id) if locked else UnlockCable(c.id))


def command_relay(c: Connector, closed: bool) -> None:
    """Asks the contactor to move; its feedback deadline counts once the command reaches
    it (`Actuated`), and an opening starts its rest (`MIN_OPEN`)."""
    c.relay_closed = closed
    c.relay_changed_at = None
    c.relay_untouched = False
    if not closed:
        c.relay_opened_at = c.now
    c.emit(CloseRelay(c.id) if closed else OpenRelay(c.id))


def lock_feedback(c: Connector, locked: bool) -> None:
    c.lock_feedback = locked
    c.lock_reported = True
    if c.under_test:
        return
    if locked and not c.lock_locked and c.lock_untouched:
        # Engaged at boot with no session to hold it (the journal says released): let go.
        command_lock(c, False)
        return
    if locked == c.lock_locked:
        supervision.set_fault(c, FaultCode.CABLE_LOCK_FAILURE, False)
    if c.state is State.CHARGING and not locked:
        supervision.set_fault(c, FaultCode.CABLE_LOCK_FAILURE, True)  # the lock let go under load
    c.try_begin()


def relay_feedback(c: Connector, closed: bool) -> None:
    c.relay_feedback = closed
    if c.under_test:
        return
    if closed and not c.relay_closed and c.relay_untouched:
        # Reading closed at boot, with the outputs reset open: welded. No deadline to wait.
        supervision.set_fault(c, FaultCode.RELAY_WELDED, True)
        return
    if closed == c.relay_closed:
        # A welded contactor is latched: it stays until a technician has looked at it.
        supervision.set_fault(c, FaultCode.RELAY_FAILURE, False)


def pilot_state(c: Connector, state: CpState) -> None:
    c.cp = state
    if state in CLEARS_FAULT:
        supervision.set_fault(c, FaultCode.PILOT_FAULT, False)
    elif state in FAULTY and (c.authorization is not None or c.pilot_offer is not None):
        supervision.set_fault(c, FaultCode.PILOT_FAULT, True)  # a short, -12 V, no diode


def session_may_draw(c: Connector) -> bool:
    """A session runs, not stopping, with no fault: its PWM is to be on (also while the
    vehicle pauses)."""
    tx = c.transaction
    return (
        c.state is State.CHARGING
        and tx is not None
        and not tx.finished
        and tx.stop_reason is None
        and c.plugged
        and not c.faults
    )


def vehicle_asks(c: Connector) -> bool:
    return asks_for_power(c.cp, c.settings.ventilation)


def current_used(c: Connector) -> float | None:
    r = c.reading
    return max(r.current_a) if r is not None and r.current_a else None


def watch_unused(c: Connector) -> None:
    """A vehicle using clearly less than it is offered for UNUSED_AFTER claims only what it
    uses (and a margin), until it uses that much: then it claims its full limit again."""
    used, offered = current_used(c), c.pilot_offer
    if used is None or offered is None:
        c.unused_since = c.unused_cap = None
    elif c.unused_cap is not None:
        if used >= c.unused_cap - UNUSED_MARGIN_A / 2:
            c.unused_cap = None  # it wants more again
    elif used >= offered - UNUSED_MARGIN_A:
        c.unused_since = None
    elif c.unused_since is None:
        c.unused_since = c.now
    elif c.now - c.unused_since >= UNUSED_AFTER:
        c.unused_cap, c.unused_since = used + UNUSED_MARGIN_A, None


def reconcile(c: Connector) -> None:
    tx = c.transaction
    set_pilot(c)
    may_power = (
        session_may_draw(c) and c.lock_locked and c.lock_feedback and vehicle_asks(c) and c.diode_ok
    )
    withdrawn = c.pwm_off_since
    keep = may_power and (
        c.pilot_offer is not None
        or (withdrawn is not None and c.now - withdrawn < PWM_WITHDRAWN_GRACE)
    )
    rested = c.relay_opened_at is None or c.now - c.relay_opened_at >= MIN_OPEN
    if c.relay_closed and not keep:
        command_relay(c, False)
    elif not c.relay_closed and may_power and c.pilot_offer is not None:
        if rested:
            command_relay(c, True)
        elif not c.noted_flapping:
            c.noted_flapping = True
            rest = MIN_OPEN.total_seconds()
            c.emit(
                Note(
                    c.id,
                    f"the pilot flaps: the contactor rests {rest:g} s before each close",
                )
            )
    may_release = (
        c.state in RELEASABLE
        and not c.relay_closed
        and not c.relay_feedback
        and not c.has_unpaid_transaction()
        and not c.has_open_transaction()
    )
    if c.lock_locked and may_release:
        command_lock(c, False)
        c.publish(pub.CableUnlocked, transaction_id=tx.transaction_id if tx else None)


def set_pilot(c: Connector) -> None:
    """The PWM offers the connector's share while its session may draw; under 6 A, or
    with no session, the pilot is constant +12 V."""
    offer = c.offer if session_may_draw(c) and c.offer >= MIN_A else None
    if offer == c.pilot_offer:
        return
    if offer is None:
        c.pwm_off_since = c.now
    elif c.pilot_offer is None:
        c.pwm_off_since = None
    c.pilot_offer = offer
    c.emit(SetPilot(c.id, offer))
