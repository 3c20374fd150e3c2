"""One connector: events and commands in, effects out.

Which state may follow which, and on which conditions, is the table of `core/states.py`: the
methods below fire triggers without checking the state first, the table says. The power path,
the session and its bill, faults and deadlines, and what survives a restart are the files beside
this one (`power.py`, `billing.py`, `supervision.py`, `snapshots.py`), each a set of functions of
the connector. Everything time-dependent takes `now` from the caller; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hal.pilot import CpState
from pile_controller.core import billing, power, snapshots, supervision
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core import published as pub
from pile_controller.core.effects import Effect, Note, Publish, PublishStatus, Redraw
from pile_controller.core.faults import Fault, FaultCode
from pile_controller.core.reservations import CodeGate, Reservation, Verdict
from pile_controller.core.sharing import Claim
from pile_controller.core.states import (
    HOLDS_RESERVATION,
    NO_TECHNICIAN_UNLOCK,
    OUT_OF_SERVICE,
    STRICT,
    TABLE,
    TAKES_REMOTE_START,
    TESTABLE,
    NoRow,
    State,
    Trigger,
)
from pile_controller.core.tariff import FREE, Tariff
from pile_controller.core.transaction import Cap, Transaction, transaction_ids

if TYPE_CHECKING:
    from pile_controller.config import Settings


@dataclass
class Context:
    """What all connectors of a pile share: its settings, as the config read them (every default
    is the config's own), the current tariff and the pile's services."""

    settings: Settings
    tariff: Tariff
    sign: Callable[[dict[str, Any]], str]  # the pile's signature on a receipt
    new_transaction_id: Callable[[], str]

    @classmethod
    def of(
        cls,
        settings: Settings,
        sign: Callable[[dict[str, Any]], str],
        new_transaction_id: Callable[[], str] | None = None,
    ) -> Context:
        """Until the backend sets one, the config's tariff; without one, charging is free."""
        ids = new_transaction_id or transaction_ids(settings.pile.id)
        return cls(settings, settings.tariff or FREE, sign, ids)

    @property
    def zone(self) -> ZoneInfo:
        """The pile's time zone: tariff periods and the screen's clock are in it."""
        return ZoneInfo(self.settings.pile.timezone)


@dataclass
class Authorization:
    id_token: str
    reservation_id: str | None
    plug_by: datetime  # a remote start must be followed by a plug-in before this
    cap: Cap | None = None


class Connector:
    """One connector: the inputs it hears (`handle`) and the commands it takes, each turned
    into a trigger of the table (`core/states.py`); the power path (`core/power.py`), the
    session and its bill (`core/billing.py`), faults and deadlines (`core/supervision.py`) and
    what survives a restart (`core/snapshots.py`) are functions of it, one file each."""

    def __init__(self, connector_id: int, context: Context, now: datetime):
        self.id = connector_id
        self.ctx = context
        self.settings = next(c for c in context.settings.connectors if c.id == connector_id)
        self.now = now
        self.plugged = False
        self.cp = CpState.A  # what the control pilot reads
        self.diode_ok = True
        self.pp_a: int | None = None  # the plugged cable's ampacity (a socket's PP)
        self.pp_read = False  # the hardware reads PP: a plugged socket without one has no cable
        self.backend_limit: float | None = None  # the backend's `limit` for this connector
        self.offer = 0.0  # this connector's share of the site, set by the pile before each drain
        self.pilot_offer: float | None = None  # what the PWM offers now (None: +12 V, no PWM)
        self.pwm_off_since: datetime | None = None
        self.relay_opened_at: datetime | None = None
        self.unused_since: datetime | None = None
        self.unused_cap: float | None = None  # what it claims while it leaves current unused
        self.noted_flapping = False  # said once in the log, for the life of the process
        self.typed = 0  # digits typed on the keypad so far, echoed on the screen as dots
        # Until the relay or the lock is first commanded, what it reports is how the hardware
        # stood when the process started (the outputs reset with it): reconciled at once.
        self.relay_untouched = self.lock_untouched = True
        # A technician's relay or lock test holds the connector: the hardware moves without
        # the core's command, so its feedback is nobody's fault meanwhile.
        self.under_test = False
        self.relay_closed = False  # what we commanded
        self.relay_feedback = False  # what the contactor reports
        # When the last relay/lock command reached the device; None while one waits to be
        # carried out (after the journal's flush), when no feedback deadline runs.
        self.relay_changed_at: datetime | None = now
        self.lock_locked = False
        self.lock_feedback = False
        self.lock_reported = True  # the lock has reported since it was last commanded
        self.lock_changed_at: datetime | None = now
        self.reservation: Reservation | None = None
        reservation = context.settings.reservation
        self.gate = CodeGate(reservation.max_attempts, timedelta(seconds=reservation.lockout_s))
        self.authorization: Authorization | None = None
        self.transaction: Transaction | None = None
        self.unpaid_since: datetime | None = None  # the release policy counts from here
        # Deadlines rebuilt from the journal were set on the clock of their day, which NTP may
        # still have to bring this boot's clock back to: a step must not move them.
        self.from_journal: set[str] = set()
        self.reading: ev.Reading | None = None
        self.meter_watch_since = now  # staleness counts from here until the first reading
        self.meter_problem = "no reading yet"  # why the last poll failed, for MeterFailure
        self.faults: dict[FaultCode, Fault] = {}
        self.disabled = False
        self.announced_available = True
        self._effects: list[Effect] = []
        self.state = State.IDLE
        self._holes: set[tuple[State, Trigger]] = set()  # noted once each, off the tests
        self._status_key = self._key()

    # --- the interface the pile uses --------------------------------------------------------

    def drain(self) -> list[Effect]:
        """Applies the two safety rules, then returns and forgets the effects produced so far."""
        power.reconcile(self)
        key = self._key()
        if key != self._status_key:
            self._status_key = key
            self.emit(PublishStatus(self.id))
        effects, self._effects = self._effects, []
        return effects

    def handle(self, event: ev.Event, now: datetime) -> None:
        self.now = now
        match event:
            case ev.PlugIn():
                self._plug_in()
            case ev.Unplug():
                self._unplug()
            case ev.CodeEntered(digits=digits):
                self.typed = 0
                self._code_entered(digits)
            case ev.KeysTyped(count=count):
                if self.state is State.AUTHENTICATING and self.authorization is None:
                    self.typed = count
                    self.emit(Redraw(self.id))
            case ev.StopButton():
                self._stop_button()
            case ev.LockFeedback(locked=locked):
                power.lock_feedback(self, locked)
            case ev.RelayFeedback(closed=closed):
                power.relay_feedback(self, closed)
            case ev.MeterReading(reading=reading):
                billing.meter_reading(self, reading)
            case ev.PilotState(state=state):
                power.pilot_state(self, state)
            case ev.DiodeCheck(diode_ok=ok):
                self.diode_ok = ok
                if not ok and self.pilot_offer is not None:
                    supervision.set_fault(self, FaultCode.PILOT_FAULT, True)
            case ev.CableAmpacity(amps=amps):
                self.pp_a, self.pp_read = amps, True
            case ev.MeterUnreadable(problem=problem):
                self.meter_problem = problem
            case ev.EmergencyStop(active=active):
                supervision.set_fault(self, FaultCode.EMERGENCY_STOP, active)
            case ev.RcdTrip(active=active):
                supervision.set_fault(self, FaultCode.RCD_TRIP, active)
            case ev.Tick():
                supervision.tick(self)
            case ev.ClockStepped(delta=delta):
                supervision.clock_stepped(self, delta)
            case ev.Actuated(device="relay"):
                self.relay_changed_at = self.now
            case ev.Actuated(device="lock"):
                self.lock_changed_at = self.now
            case ev.LinkUp() | ev.LinkDown():
                pass  # the pile's: what a connector does never depends on the backend

    def snapshot(self) -> dict[str, Any]:
        return snapshots.snapshot(self)

    def restore(self, snapshot: dict[str, Any], now: datetime) -> None:
        snapshots.restore(self, snapshot, now)

    def claim(self) -> Claim | None:
        return power.claim(self)

    def awaits_feedback(self) -> bool:
        return power.awaits_feedback(self)

    def tethered(self) -> bool:
        return power.tethered(self)

    def suspended(self) -> str | None:
        return billing.suspended(self)

    def meter_values(self, context: str, now: datetime) -> None:
        billing.meter_values(self, context, now)

    def clear_faults(self, now: datetime) -> cmd.Reply:
        return supervision.clear_faults(self, now)

    def reservation_reply(self, reservation_id: str) -> cmd.Reply | None:
        """Why this connector cannot take `reservation_id` now; None if it can."""
        if self.state is State.FAULTED:
            return cmd.Reply(cmd.ReplyStatus.FAULTED)
        if self.state is State.UNAVAILABLE:
            return cmd.Reply(cmd.ReplyStatus.UNAVAILABLE)
        if self.state is State.IDLE or self._holds_reservation(reservation_id):
            return None
        return cmd.Reply(cmd.ReplyStatus.OCCUPIED)

    def take_reservation(self, reservation: Reservation, now: datetime) -> None:
        self.now = now
        if self.reservation is not None:
            self.end_reservation("Replaced", now)
        self.reservation = reservation
        self.gate.reset()
        self.step(Trigger.RESERVE)
        self.publish(
            pub.ReservationAccepted,
            reservation_id=reservation.reservation_id,
            expires_at=reservation.expires_at,
        )

    def end_reservation(self, reason: str, now: datetime) -> None:
        self.now = now
        self.drop_reservation(reason)
        self.step(Trigger.UNRESERVE)

    def drop_reservation(self, reason: str) -> None:
        if self.reservation is None:
            return
        self.publish(
            pub.ReservationEnded, reservation_id=self.reservation.reservation_id, reason=reason
        )
        self.reservation = None

    def remote_start(self, start: cmd.RemoteStart, now: datetime) -> cmd.Reply:
        self.now = now
        if self.state in OUT_OF_SERVICE:
            return cmd.rejected(self.state.capitalize())
        if self.state not in TAKES_REMOTE_START or self.authorization:
            return cmd.rejected("Occupied")
        if (
            self.reservation
            and start.reservation_id != self.reservation.reservation_id
            and start.id_token != self.reservation.id_token
        ):
            return cmd.rejected("Reserved")
        reservation_id = self.reservation.reservation_id if self.reservation else None
        self.authorization = Authorization(
            start.id_token,
            reservation_id,
            now + timedelta(seconds=self.ctx.settings.pile.plug_timeout_s),
            start.cap,
        )
        self.step(Trigger.AUTHORIZE)
        if self.plugged:
            power.engage_lock(self)
        return cmd.ACCEPTED

    def remote_stop(self, reason: str, now: datetime) -> cmd.Reply:
        self.now = now
        tx = self.transaction
        if tx is None or tx.finished or tx.stop_reason is not None:
            return cmd.rejected("NotCharging")
        billing.request_stop(self, reason)
        return cmd.ACCEPTED

    def stop(self, reason: str, now: datetime) -> None:
        self.now = now
        billing.request_stop(self, reason)

    def payment(self, payment: cmd.Payment, now: datetime) -> cmd.Reply:
        self.now = now
        tx = self.transaction
        assert tx is not None and tx.transaction_id == payment.transaction_id
        if not tx.finished:
            return cmd.rejected("TransactionRunning")
        if tx.settled is not None:
            return cmd.rejected("AlreadySettled")
        if payment.status == "final":
            billing.final_cost(self, payment.amount, payment.qr_payload)
            return cmd.ACCEPTED
        if tx.amount != payment.amount:
            return cmd.rejected("AmountMismatch")
        if payment.status == "pending":
            tx.qr_payload = payment.qr_payload
        else:
            billing.settle(self, "Paid")
        return cmd.ACCEPTED

    def set_available(self, available: bool, now: datetime) -> cmd.Reply:
        self.now = now
        self.disabled = not available
        if available:
            self.step(Trigger.ENABLE)
            return cmd.ACCEPTED
        if self.state is State.FAULTED:
            return cmd.ACCEPTED  # comes to rest `unavailable` once the fault clears
        if self.step(Trigger.DISABLE):
            return cmd.ACCEPTED
        return cmd.Reply(cmd.ReplyStatus.SCHEDULED)

    def technician_unlock(self, now: datetime, how: str = "ReleasedByTechnician") -> cmd.Reply:
        self.now = now
        if self.relay_closed or self.relay_feedback:
            return cmd.rejected("RelayClosed")
        if self.state in NO_TECHNICIAN_UNLOCK:
            return cmd.rejected(self.state.capitalize())
        if self.state is State.AWAITING_PAYMENT:
            billing.settle(self, how)
        return cmd.ACCEPTED

    def begin_test(self, now: datetime) -> cmd.Reply:
        """A technician's `relay-test` or `selftest`: the relay and the lock may be moved past
        the core while no vehicle, session or fault is there."""
        self.now = now
        if self.under_test:
            return cmd.rejected("a test is already running on it")
        if self.plugged or self.cp is not CpState.A:
            return cmd.rejected("a vehicle is connected")
        if self.has_open_transaction() or self.has_unpaid_transaction():
            return cmd.rejected("a transaction is running")
        if self.faults:
            return cmd.rejected(f"fault {next(iter(self.faults))} is active")
        if self.state not in TESTABLE:
            return cmd.rejected(f"the connector is {self.state}")
        self.under_test = True
        return cmd.ACCEPTED

    def end_test(self, now: datetime) -> None:
        """The test left the relay open and the lock released, as the core holds them; the
        ordinary supervision judges their feedback again from now, with its full deadline."""
        self.now = now
        self.under_test = False
        self.relay_untouched = self.lock_untouched = False
        self.relay_changed_at = self.lock_changed_at = now
        if self.authorization and self.plugged:  # a session asked for the cable meanwhile
            power.engage_lock(self)
        power.reconcile(self)

    # --- conditions used by the transition table ---------------------------------------------

    def has_unpaid_transaction(self) -> bool:
        return self.transaction is not None and self.transaction.unpaid

    def has_open_transaction(self) -> bool:
        return self.transaction is not None and not self.transaction.finished

    def is_disabled(self) -> bool:
        return self.disabled

    def holds_cable(self) -> bool:
        return self.lock_locked

    def is_plugged(self) -> bool:
        return self.plugged

    def not_under_test(self) -> bool:
        return not self.under_test

    def has_reservation(self) -> bool:
        return self.reservation is not None

    def is_authorized(self) -> bool:
        return self.authorization is not None

    def lock_confirmed(self) -> bool:
        return self.lock_reported and self.lock_feedback

    def has_fault(self) -> bool:
        return bool(self.faults)

    def has_fresh_reading(self) -> bool:
        """A session begins on a reading: the world may report the lock before the meter."""
        return self.reading is not None and self.meter_is_fresh()

    def meter_is_fresh(self, now: datetime | None = None) -> bool:
        """A valid reading came within `metering.stale_after_s` (of the core's last step, or
        of `now` for a caller outside the core)."""
        seen = self.reading.at if self.reading and self.reading.at else self.meter_watch_since
        stale_after = timedelta(seconds=self.ctx.settings.metering.stale_after_s)
        return (now or self.now) - seen < stale_after

    # --- what the rows do -------------------------------------------------------------------

    def _open_transaction(self) -> None:
        billing.open_transaction(self)

    def _energize(self) -> None:
        billing.energize(self)

    def _drop_authorization(self) -> None:
        self.authorization = None

    def _leave_service(self) -> None:
        self.drop_reservation("Unavailable")
        self.authorization = None

    # --- what happens --------------------------------------------------------------------------

    def _plug_in(self) -> None:
        self.plugged = True
        self.step(Trigger.PLUG_IN)
        if self.authorization:  # a remote start waiting for this plug
            power.engage_lock(self)

    def _stop_button(self) -> None:
        if self.state is State.CHARGING:
            billing.request_stop(self, "Local")
        elif self.authorization is not None:
            # The driver changed their mind before power flowed: no session starts later.
            self.authorization = None
            if not self.step(Trigger.CANCEL):  # to `unlocked`, if the cable was locked already
                self.step(Trigger.LEAVE)

    def _unplug(self) -> None:
        self.plugged = False
        billing.request_stop(self, "EVDisconnected")  # if a session runs
        self.step(Trigger.LEAVE)

    def _code_entered(self, digits: str) -> None:
        if self.state is not State.AUTHENTICATING or self.authorization is not None:
            return  # the keypad means nothing outside code entry
        if self.reservation is None:
            self.publish(
                pub.AuthorizationRejected,
                reason="NoReservation",
                attempts_left=self.gate.attempts_left(self.now),
            )
            return
        locked_until = self.gate.locked_until
        verdict = self.gate.check(digits, self.reservation, self.now)
        if self.gate.locked_until != locked_until:
            self.from_journal.discard("locked_until")
        if verdict is Verdict.MATCH:
            self.authorization = Authorization(
                self.reservation.id_token, self.reservation.reservation_id, self.now
            )
            power.engage_lock(self)
        else:
            self.publish(
                pub.AuthorizationRejected,
                reason=verdict.value,
                attempts_left=self.gate.attempts_left(self.now),
            )

    def try_begin(self) -> None:
        self.step(Trigger.BEGIN)  # the table's BEGIN row says when

    def step(self, trigger: Trigger) -> bool:
        """Fires `trigger`: the first of the table's rows for it in this state whose guards
        hold moves the connector; False if it did not move. Whether an input moves the
        connector is the table's to say, not a check beside each call."""
        rows = TABLE[self.state].get(trigger)
        if rows is None:
            self._hole(trigger)
            return False
        for row in rows:
            if all(getattr(self, g)() for g in row.when) and not any(
                getattr(self, g)() for g in row.unless
            ):
                if row.before:
                    getattr(self, row.before)()
                self.state = row.dest
                if row.after:
                    getattr(self, row.after)()
                self._on_state_change()
                return True
        return False

    def _hole(self, trigger: Trigger) -> None:
        if STRICT:
            raise NoRow(self.state, trigger)
        if (self.state, trigger) not in self._holes:  # a bug, said once: the connector stays
            self._holes.add((self.state, trigger))
            self.emit(Note(self.id, f"no row for {trigger} in state {self.state}: ignored"))

    def _holds_reservation(self, reservation_id: str) -> bool:
        held = self.reservation is not None and self.reservation.reservation_id == reservation_id
        return held and self.state in HOLDS_RESERVATION and not self.authorization

    def _on_state_change(self) -> None:
        self.typed = 0  # a half-typed code does not outlive code entry
        # Availability is announced when it changes as the backend sees it: a fault in between
        # (unavailable -> faulted -> unavailable) is not a change of availability.
        available = self.state is not State.UNAVAILABLE
        if self.state is not State.FAULTED and available != self.announced_available:
            self.announced_available = available
            self.publish(pub.AvailabilityChanged, available=available)

    def publish(self, event: type[pub.Published], **data: Any) -> None:
        self.emit(Publish(event(self.id, self.now, **data)))

    def emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def _key(self) -> tuple[Any, ...]:
        tx = self.transaction
        return (
            self.state,
            billing.suspended(self),
            self.reservation and self.reservation.reservation_id,
            tx and (tx.transaction_id, tx.finished, tx.settled, tx.qr_payload),
            tuple(self.faults),
            self.cp,
            self.pilot_offer,
            self.pp_a,
        )
