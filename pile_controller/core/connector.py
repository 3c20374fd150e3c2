"""One connector's state machine: events and commands in, effects out.

The graph (which state may follow which, and on which conditions) is the `TRANSITIONS` table
below, run by `transitions`; the docs' state diagram is generated from it. An input whose
trigger the current state has no transition for moves nothing (`_step`), so the methods below
fire triggers without checking the state first: the table says. Two rules are not transitions
but hold after every step, whatever happened (`_reconcile`):

1. the relay is closed only in `charging`, while the lock reports locked, the vehicle is plugged
   and asks for power on the control pilot (C, or D where the connector ventilates), the PWM
   offers a current (or was withdrawn less than 6 s ago), no stop is pending and no fault is
   active; once opened it rests a second before it closes again;
2. the cable lock is released only in `idle`, `reserved`, `unlocked` and `unavailable`, never while
   the relay is closed or reports closed, and never while a transaction is unpaid.

Everything time-dependent takes `now` from the caller; nothing here reads a clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from transitions import Machine

from hal.pilot import CLEARS_FAULT, FAULTY, MIN_A, CpState, asks_for_power
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core import published as pub
from pile_controller.core.effects import (
    CloseRelay,
    Effect,
    LockCable,
    Note,
    OpenRelay,
    Publish,
    PublishStatus,
    ReadMeter,
    Redraw,
    SetPilot,
    UnlockCable,
)
from pile_controller.core.faults import CATALOGUE, Fault, FaultCode
from pile_controller.core.reservations import CodeGate, Reservation, Verdict
from pile_controller.core.sharing import Claim
from pile_controller.core.tariff import FREE, Tariff
from pile_controller.core.times import iso, parse_iso
from pile_controller.core.transaction import Transaction, transaction_ids

if TYPE_CHECKING:
    from pile_controller.config import Settings

STATES = [
    "idle",
    "reserved",
    "authenticating",
    "charging",
    "awaiting_payment",
    "unlocked",
    "unavailable",
    "faulted",
]
RELEASABLE = {"idle", "reserved", "unlocked", "unavailable"}
SUSPENDED_EV_BELOW_W = 10.0  # a vehicle drawing less than this is not charging
# What `pilectl fault clear` may clear, once the hardware no longer shows it.
TECHNICIAN_CLEARS = {FaultCode.RELAY_WELDED, FaultCode.CABLE_LOCK_FAILURE, FaultCode.PILOT_FAULT}
STILL_SHOWN = {
    FaultCode.RELAY_WELDED: "the contactor's feedback still reports closed",
    FaultCode.CABLE_LOCK_FAILURE: "the lock's feedback still does not follow",
    FaultCode.PILOT_FAULT: "the pilot still reads E or F",
}
# The contactor stays open at least this long before it closes again: a pilot that flaps
# between B and C must not make it chatter (contactors are rated for a few 100,000 cycles).
MIN_OPEN = timedelta(seconds=1)
# PWM withdrawn while the vehicle stays in C: IEC 61851-1 gives it this long to stop drawing
# before the contactor opens under load.
PWM_WITHDRAWN_GRACE = timedelta(seconds=6)
# A vehicle using this much less than offered for UNUSED_AFTER leaves the rest to the others.
UNUSED_MARGIN_A = 1.0
UNUSED_AFTER = timedelta(seconds=30)

# Where a connector comes to rest when nothing is under way: the first place whose conditions
# hold. Each trigger lists only the places it can reach, so the generated diagram shows no edge
# that cannot happen.
REST: dict[str, list[tuple[str, list[str]]]] = {
    # after a fault: anything may be pending
    "recover": [
        ("charging", ["has_open_transaction"]),  # stopped, its stop reading still to come
        ("awaiting_payment", ["has_unpaid_transaction"]),
        ("unavailable", ["is_disabled"]),
        ("unlocked", ["holds_cable", "is_plugged"]),
        ("authenticating", ["is_plugged"]),
        ("reserved", ["has_reservation"]),
        ("idle", []),
    ],
    # the vehicle left (or never came after a remote start): no session, no plug; a start
    # authorised for it is dropped
    "leave": [
        ("unavailable", ["is_disabled"]),
        ("reserved", ["has_reservation"]),
        ("idle", []),
    ],
    # back in service: reservations and sessions ended when it went out of service
    "enable": [
        ("authenticating", ["is_plugged"]),
        ("idle", []),
    ],
}


def to_rest(trigger: str, source: str | list[str], **more: Any) -> list[dict[str, Any]]:
    return [
        {"trigger": trigger, "source": source, "dest": dest, "conditions": conditions, **more}
        for dest, conditions in REST[trigger]
    ]


# A session begins only with all of these; the last word from the lock must have come after
# it was told to lock (see `_command_lock`).
READY_TO_BEGIN = [
    "is_authorized",
    "is_plugged",
    "holds_cable",
    "lock_confirmed",
    "has_fresh_reading",
    "not_under_test",
]  # and no fault (`unless`)


TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "reserve", "source": "idle", "dest": "reserved"},
    {"trigger": "unreserve", "source": "reserved", "dest": "idle"},
    {"trigger": "plug_in", "source": ["idle", "reserved"], "dest": "authenticating"},
    {"trigger": "authorize", "source": ["idle", "reserved"], "dest": "authenticating"},
    {
        "trigger": "begin",
        "source": "authenticating",
        "dest": "charging",
        "conditions": READY_TO_BEGIN,
        "unless": ["has_fault"],
        "before": "_open_transaction",
        "after": "_energize",
    },
    {"trigger": "finish", "source": "charging", "dest": "awaiting_payment"},
    {"trigger": "settle", "source": "awaiting_payment", "dest": "unlocked"},
    # STOP before power flowed, the cable already locked: to where it may be released
    {
        "trigger": "cancel",
        "source": "authenticating",
        "dest": "unlocked",
        "conditions": ["holds_cable"],
    },
    *to_rest(
        "leave", ["authenticating", "unlocked"], unless=["is_plugged"], before="_drop_authorization"
    ),
    # out of service now, unless a cable is held for a session (then after it: Scheduled)
    {
        "trigger": "disable",
        "source": ["idle", "reserved"],
        "dest": "unavailable",
        "before": "_leave_service",
    },
    {
        "trigger": "disable",
        "source": "authenticating",
        "dest": "unavailable",
        "unless": ["holds_cable"],
        "before": "_leave_service",
    },
    *to_rest("enable", "unavailable"),
    {"trigger": "fault", "source": [s for s in STATES if s != "faulted"], "dest": "faulted"},
    *to_rest("recover", "faulted", unless=["has_fault"]),
]


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


class Connector:
    state: str
    trigger: Callable[..., bool]

    def __init__(self, connector_id: int, context: Context, now: datetime):
        self.id = connector_id
        self.ctx = context
        self.settings = next(c for c in context.settings.connectors if c.id == connector_id)
        self.now = now
        self.plugged = False
        self.cp = CpState.A  # what the control pilot reads
        self.diode_ok = True
        self.pp_a: int | None = None  # the plugged cable's ampacity (a socket's PP)
        self.backend_limit: float | None = None  # the backend's `limit` for this connector
        self.offer = 0.0  # this connector's share of the site, set by the pile before each drain
        self.pilot_offer: float | None = None  # what the PWM offers now (None: +12 V, no PWM)
        self.pwm_off_since: datetime | None = None
        self.relay_opened_at: datetime | None = None
        self.unused_since: datetime | None = None
        self.unused_cap: float | None = None  # what it claims while it leaves current unused
        self._noted_flapping = False  # said once in the log, for the life of the process
        self.typed = 0  # digits typed on the keypad so far, echoed on the screen as dots
        # Until the relay or the lock is first commanded, what it reports is how the hardware
        # stood when the process started (the outputs reset with it): reconciled at once.
        self._relay_untouched = self._lock_untouched = True
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
        self._from_journal: set[str] = set()
        self.reading: ev.Reading | None = None
        self.meter_watch_since = now  # staleness counts from here until the first reading
        self.meter_problem = "no reading yet"  # why the last poll failed, for MeterFailure
        self.faults: dict[FaultCode, Fault] = {}
        self.disabled = False
        self._announced_available = True
        self._effects: list[Effect] = []
        self._machine = Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="idle",
            auto_transitions=False,
            after_state_change="_on_state_change",
        )
        self._status_key = self._key()

    # --- the interface the pile uses --------------------------------------------------------

    def drain(self) -> list[Effect]:
        """Applies the two safety rules, then returns and forgets the effects produced so far."""
        self._reconcile()
        key = self._key()
        if key != self._status_key:
            self._status_key = key
            self._effects.append(PublishStatus(self.id))
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
                if self.state == "authenticating" and self.authorization is None:
                    self.typed = count
                    self._effects.append(Redraw(self.id))
            case ev.StopButton():
                self._stop_button()
            case ev.LockFeedback(locked=locked):
                self._lock_feedback(locked)
            case ev.RelayFeedback(closed=closed):
                self._relay_feedback(closed)
            case ev.MeterReading(reading=reading):
                self._meter_reading(reading)
            case ev.PilotState(state=state):
                self._pilot_state(state)
            case ev.DiodeCheck(diode_ok=ok):
                self.diode_ok = ok
                if not ok and self.pilot_offer is not None:
                    self._set_fault(FaultCode.PILOT_FAULT, True)
            case ev.CableAmpacity(amps=amps):
                self.pp_a = amps
            case ev.MeterUnreadable(problem=problem):
                self.meter_problem = problem
            case ev.EmergencyStop(active=active):
                self._set_fault(FaultCode.EMERGENCY_STOP, active)
            case ev.RcdTrip(active=active):
                self._set_fault(FaultCode.RCD_TRIP, active)
            case ev.Tick():
                self._tick()
            case ev.ClockStepped(delta=delta):
                self._clock_stepped(delta)
            case ev.Actuated(device="relay"):
                self.relay_changed_at = self.now
            case ev.Actuated(device="lock"):
                self.lock_changed_at = self.now

    def snapshot(self) -> dict[str, Any]:
        """The facts that must survive a crash: journaled in the commit of every step."""
        r, tx = self.reservation, self.transaction
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
            "disabled": self.disabled,
            "limit": self.backend_limit,
            "wrong_codes": self.gate.wrong,
            "locked_out_until": iso(self.gate.locked_until) if self.gate.locked_until else None,
        }

    def restore(self, snapshot: dict[str, Any], now: datetime) -> None:
        """Rebuilds the connector after a restart from its last journaled snapshot.

        A session the daemon lost mid-charge is stopped (reason PowerLoss) on the meter's first
        reading and billed; an unpaid one waits for payment again, its cable locked. The relay is
        open after a restart (the outputs reset with the process), so nothing resumes charging.
        """
        self.now = now
        self.disabled = snapshot["disabled"]
        self.backend_limit = snapshot.get("limit")  # journals before the pilot have none
        self.gate.wrong = snapshot["wrong_codes"]
        until = snapshot["locked_out_until"]
        self.gate.locked_until = parse_iso(until) if until else None
        if until:
            self._from_journal.add("locked_until")
        r = snapshot["reservation"]
        if r is not None:
            self.reservation = Reservation(
                r["reservation_id"], r["code"], r["id_token"], parse_iso(r["expires_at"])
            )
        t = snapshot["transaction"]
        tx = self.transaction = Transaction.from_json(t) if t else None
        if tx is not None and tx.settled is None:
            self._command_lock(True)
        if tx is not None and not tx.finished:
            tx.stop_reason = tx.stop_reason or "PowerLoss"
            self._machine.set_state("charging")
            self._effects.append(ReadMeter(self.id))
        elif tx is not None and tx.unpaid:
            self.unpaid_since = tx.stopped_at
            self._from_journal.add("unpaid_since")
            self._machine.set_state("awaiting_payment")
        else:
            self._machine.set_state(
                "unavailable" if self.disabled else "reserved" if self.reservation else "idle"
            )
        self._announced_available = not self.disabled
        self._effects.append(PublishStatus(self.id))

    def reservation_reply(self, reservation_id: str) -> cmd.Reply | None:
        """Why this connector cannot take `reservation_id` now; None if it can."""
        if self.state == "faulted":
            return cmd.Reply(cmd.ReplyStatus.FAULTED)
        if self.state == "unavailable":
            return cmd.Reply(cmd.ReplyStatus.UNAVAILABLE)
        if self.state == "idle" or self._holds_reservation(reservation_id):
            return None
        return cmd.Reply(cmd.ReplyStatus.OCCUPIED)

    def take_reservation(self, reservation: Reservation, now: datetime) -> None:
        self.now = now
        if self.reservation is not None:
            self.end_reservation("Replaced", now)
        self.reservation = reservation
        self.gate.reset()
        self._step("reserve")
        self._publish(
            pub.ReservationAccepted,
            reservation_id=reservation.reservation_id,
            expires_at=reservation.expires_at,
        )

    def end_reservation(self, reason: str, now: datetime) -> None:
        self.now = now
        self._drop_reservation(reason)
        self._step("unreserve")

    def _drop_reservation(self, reason: str) -> None:
        if self.reservation is None:
            return
        self._publish(
            pub.ReservationEnded, reservation_id=self.reservation.reservation_id, reason=reason
        )
        self.reservation = None

    def remote_start(self, start: cmd.RemoteStart, now: datetime) -> cmd.Reply:
        self.now = now
        if self.state in ("faulted", "unavailable"):
            return cmd.rejected(self.state.capitalize())
        if self.state not in ("idle", "reserved", "authenticating") or self.authorization:
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
        )
        self._step("authorize")
        if self.plugged:
            self._engage_lock()
        return cmd.ACCEPTED

    def remote_stop(self, now: datetime) -> cmd.Reply:
        self.now = now
        tx = self.transaction
        if tx is None or tx.finished or tx.stop_reason is not None:
            return cmd.rejected("NotCharging")
        self._request_stop("Remote")
        return cmd.ACCEPTED

    def stop(self, reason: str, now: datetime) -> None:
        self.now = now
        self._request_stop(reason)

    def payment(self, payment: cmd.Payment, now: datetime) -> cmd.Reply:
        self.now = now
        tx = self.transaction
        assert tx is not None and tx.transaction_id == payment.transaction_id
        if not tx.finished:
            return cmd.rejected("TransactionRunning")
        if tx.settled is not None:
            return cmd.rejected("AlreadySettled")
        if tx.amount != payment.amount:
            return cmd.rejected("AmountMismatch")
        if payment.status == "pending":
            tx.qr_payload = payment.qr_payload
        else:
            self._settle("Paid")
        return cmd.ACCEPTED

    def set_available(self, available: bool, now: datetime) -> cmd.Reply:
        self.now = now
        self.disabled = not available
        if available:
            self._step("enable")
            return cmd.ACCEPTED
        if self.state == "faulted":
            return cmd.ACCEPTED  # comes to rest `unavailable` once the fault clears
        if self._step("disable"):
            return cmd.ACCEPTED
        return cmd.Reply(cmd.ReplyStatus.SCHEDULED)

    def technician_unlock(self, now: datetime) -> cmd.Reply:
        self.now = now
        if self.relay_closed or self.relay_feedback:
            return cmd.rejected("RelayClosed")
        if self.state in ("charging", "authenticating", "faulted"):
            return cmd.rejected(self.state.capitalize())
        if self.state == "awaiting_payment":
            self._settle("ReleasedByTechnician")
        return cmd.ACCEPTED

    def awaits_feedback(self) -> bool:
        return self.relay_feedback != self.relay_closed or self.lock_feedback != self.lock_locked

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
        if self.state not in ("idle", "reserved", "unavailable"):
            return cmd.rejected(f"the connector is {self.state}")
        self.under_test = True
        return cmd.ACCEPTED

    def end_test(self, now: datetime) -> None:
        """The test left the relay open and the lock released, as the core holds them; the
        ordinary supervision judges their feedback again from now, with its full deadline."""
        self.now = now
        self.under_test = False
        self._relay_untouched = self._lock_untouched = False
        self.relay_changed_at = self.lock_changed_at = now
        if self.authorization and self.plugged:  # a session asked for the cable meanwhile
            self._engage_lock()
        self._reconcile()

    def clear_faults(self, now: datetime) -> cmd.Reply:
        """`pilectl fault clear N`: clears the faults a technician may clear (a welded
        contactor, a lock failure, a pilot fault) once the hardware no longer shows them."""
        self.now = now
        if not self.faults:
            return cmd.rejected("no fault to clear")
        for code in self.faults:
            if code not in TECHNICIAN_CLEARS:
                return cmd.rejected(f"{code} clears by itself when {CATALOGUE[code].clears}")
            if self._still_shown(code):
                return cmd.rejected(f"{code}: {STILL_SHOWN[code]}")
        for code in list(self.faults):
            self._set_fault(code, False)
        return cmd.ACCEPTED

    def _still_shown(self, code: FaultCode) -> bool:
        if code is FaultCode.RELAY_WELDED:
            return self.relay_feedback and not self.relay_closed
        if code is FaultCode.CABLE_LOCK_FAILURE:
            return self.lock_feedback != self.lock_locked
        return self.cp in FAULTY  # PilotFault

    def meter_values(self, context: str, now: datetime) -> None:
        """Publishes the current reading (for `trigger meter` and the transaction's samples)."""
        self.now = now
        r = self.reading
        if r is None or not self.meter_is_fresh():
            return  # the last good reading is never published as if it were new
        tx = self.transaction
        self._publish(
            pub.MeterValues,
            transaction_id=tx.transaction_id if tx and not tx.finished else None,
            energy_register_wh=r.energy_register_wh,
            power_w=r.power_w,
            voltage_v=r.voltage_v,
            current_a=r.current_a,
            context=context,
        )

    def suspended(self) -> str | None:
        """While charging: "EVSE" if the pile withholds power, "EV" if the vehicle draws
        nothing; None otherwise (OCPP's SuspendedEVSE and SuspendedEV)."""
        if self.state != "charging":
            return None
        if not self.relay_closed:
            # The pile withholds power (no offer, a stop, a fault) unless it offers and the
            # vehicle does not ask for it.
            asked = self.pilot_offer is not None and self.cp is CpState.B
            return "EV" if asked and self._session_may_draw() else "EVSE"
        tx = self.transaction
        if tx is not None and tx.power_w < SUSPENDED_EV_BELOW_W:
            return "EV"
        return None

    def tethered(self) -> bool:
        """A fixed cable: no proximity (PP) limit to read."""
        return self.settings.cable == "tethered"

    def claim(self) -> Claim | None:
        """What this connector asks of the site's current, while its PWM is to be on."""
        tx = self.transaction
        if not self._session_may_draw() or tx is None:
            return None
        limits = [self.settings.max_current_a]
        if self.pp_a is not None and not self.tethered():
            limits.append(self.pp_a)
        if self.backend_limit is not None:
            limits.append(self.backend_limit)
        if self.unused_cap is not None:
            limits.append(max(MIN_A, self.unused_cap))
        return Claim(self.id, min(limits), tx.started_at)

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

    # --- what transitions do ---------------------------------------------------------------

    def _drop_authorization(self) -> None:
        self.authorization = None

    def _leave_service(self) -> None:
        self._drop_reservation("Unavailable")
        self.authorization = None

    def _open_transaction(self) -> None:
        """The session begins on the current reading; the reservation it used ends."""
        auth, reading = self.authorization, self.reading
        assert auth is not None and reading is not None
        self.authorization = None
        register = reading.energy_register_wh
        tx = Transaction(
            transaction_id=self.ctx.new_transaction_id(),
            id_token=auth.id_token,
            reservation_id=auth.reservation_id,
            started_at=self.now,
            meter_start_wh=register,
            tariff=self.ctx.tariff,
            meter_last_wh=register,
            last_sample_at=self.now,
            power_w=reading.power_w,
            meter=reading.meter.as_json() if reading.meter else None,
        )
        self.transaction = tx
        self._publish(
            pub.TransactionStarted,
            transaction_id=tx.transaction_id,
            reservation_id=tx.reservation_id,
            id_token=tx.id_token,
            meter_start_wh=register,
            started_at=self.now,
        )
        self._drop_reservation("Used")

    def _energize(self) -> None:
        """The PWM comes on (the pile's share decides the offer) and the contactor closes once
        the vehicle asks for power (`_reconcile`)."""
        self.meter_values("Transaction.Begin", self.now)

    # --- what happens --------------------------------------------------------------------------

    def _plug_in(self) -> None:
        self.plugged = True
        self._step("plug_in")
        if self.authorization:  # a remote start waiting for this plug
            self._engage_lock()

    def _stop_button(self) -> None:
        if self.state == "charging":
            self._request_stop("Local")
        elif self.authorization is not None:
            # The driver changed their mind before power flowed: no session starts later.
            self.authorization = None
            if not self._step("cancel"):  # to `unlocked`, if the cable was locked already
                self._step("leave")

    def _unplug(self) -> None:
        self.plugged = False
        self._request_stop("EVDisconnected")  # if a session runs
        self._step("leave")

    def _code_entered(self, digits: str) -> None:
        if self.state != "authenticating" or self.authorization is not None:
            return  # the keypad means nothing outside code entry
        if self.reservation is None:
            self._publish(
                pub.AuthorizationRejected,
                reason="NoReservation",
                attempts_left=self.gate.attempts_left(self.now),
            )
            return
        locked_until = self.gate.locked_until
        verdict = self.gate.check(digits, self.reservation, self.now)
        if self.gate.locked_until != locked_until:
            self._from_journal.discard("locked_until")
        if verdict is Verdict.MATCH:
            self.authorization = Authorization(
                self.reservation.id_token, self.reservation.reservation_id, self.now
            )
            self._engage_lock()
        else:
            self._publish(
                pub.AuthorizationRejected,
                reason=verdict.value,
                attempts_left=self.gate.attempts_left(self.now),
            )

    def _engage_lock(self) -> None:
        if not self.lock_locked and not self.under_test:  # end_test engages it then
            self._command_lock(True)
        self._try_begin()

    def _command_lock(self, locked: bool) -> None:
        """Asks the lock to move. What its feedback said before no longer counts: a session
        begins only on feedback that came after the command (a release still on its way
        must not pass for the new lock)."""
        self.lock_locked = locked
        self.lock_changed_at = None
        self.lock_reported = False
        self._lock_untouched = False
        self._effects.append(LockCable(self.id) if locked else UnlockCable(self.id))

    def _command_relay(self, closed: bool) -> None:
        """Asks the contactor to move; its feedback deadline counts once the command reaches
        it (`Actuated`), and an opening starts its rest (`MIN_OPEN`)."""
        self.relay_closed = closed
        self.relay_changed_at = None
        self._relay_untouched = False
        if not closed:
            self.relay_opened_at = self.now
        self._effects.append(CloseRelay(self.id) if closed else OpenRelay(self.id))

    def _lock_feedback(self, locked: bool) -> None:
        self.lock_feedback = locked
        self.lock_reported = True
        if self.under_test:
            return
        if locked and not self.lock_locked and self._lock_untouched:
            # Engaged at boot with no session to hold it (the journal says released): let go.
            self._command_lock(False)
            return
        if locked == self.lock_locked:
            self._set_fault(FaultCode.CABLE_LOCK_FAILURE, False)
        if self.state == "charging" and not locked:
            self._set_fault(FaultCode.CABLE_LOCK_FAILURE, True)  # the lock let go under load
        self._try_begin()

    def _pilot_state(self, state: CpState) -> None:
        self.cp = state
        if state in CLEARS_FAULT:
            self._set_fault(FaultCode.PILOT_FAULT, False)
        elif state in FAULTY and (self.authorization is not None or self.pilot_offer is not None):
            self._set_fault(FaultCode.PILOT_FAULT, True)  # a short, -12 V, no diode

    def _session_may_draw(self) -> bool:
        """A session runs, not stopping, with no fault: its PWM is to be on (also while the
        vehicle pauses)."""
        tx = self.transaction
        return (
            self.state == "charging"
            and tx is not None
            and not tx.finished
            and tx.stop_reason is None
            and self.plugged
            and not self.faults
        )

    def _vehicle_asks(self) -> bool:
        return asks_for_power(self.cp, self.settings.ventilation)

    def _current_used(self) -> float | None:
        r = self.reading
        return max(r.current_a) if r is not None and r.current_a else None

    def _watch_unused(self) -> None:
        """A vehicle using clearly less than it is offered for UNUSED_AFTER claims only what it
        uses (and a margin), until it uses that much: then it claims its full limit again."""
        used, offered = self._current_used(), self.pilot_offer
        if used is None or offered is None:
            self.unused_since = self.unused_cap = None
        elif self.unused_cap is not None:
            if used >= self.unused_cap - UNUSED_MARGIN_A / 2:
                self.unused_cap = None  # it wants more again
        elif used >= offered - UNUSED_MARGIN_A:
            self.unused_since = None
        elif self.unused_since is None:
            self.unused_since = self.now
        elif self.now - self.unused_since >= UNUSED_AFTER:
            self.unused_cap, self.unused_since = used + UNUSED_MARGIN_A, None

    def _relay_feedback(self, closed: bool) -> None:
        self.relay_feedback = closed
        if self.under_test:
            return
        if closed and not self.relay_closed and self._relay_untouched:
            # Reading closed at boot, with the outputs reset open: welded. No deadline to wait.
            self._set_fault(FaultCode.RELAY_WELDED, True)
            return
        if closed == self.relay_closed:
            # A welded contactor is latched: it stays until a technician has looked at it.
            self._set_fault(FaultCode.RELAY_FAILURE, False)

    def _try_begin(self) -> None:
        self._step("begin")  # READY_TO_BEGIN says when

    def _request_stop(self, reason: str) -> None:
        tx = self.transaction
        if tx is None or tx.finished or tx.stop_reason is not None:
            return
        tx.stop_reason = reason
        self._reconcile()  # opens the relay first ...
        self._effects.append(ReadMeter(self.id))  # ... so the stop reading includes everything

    def _meter_reading(self, reading: ev.Reading) -> None:
        tx = self.transaction
        last = self.reading.energy_register_wh if self.reading else None
        if tx is not None and not tx.finished:
            last = max(last or 0, tx.meter_last_wh)  # also after a restart, from the journal
        if last is not None and reading.energy_register_wh < last:
            # Not a reading: for as long as it lasts the meter looks silent, and MeterFailure
            # names the cause.
            self.meter_problem = (
                f"import register went backwards from {last} to {reading.energy_register_wh} Wh"
            )
            return
        self.reading = reading
        self._watch_unused()
        self._set_fault(FaultCode.METER_FAILURE, False)
        if tx is not None and not tx.finished:
            tx.metered(reading.energy_register_wh, reading.power_w, self.now, self.ctx.zone)
            interval = timedelta(seconds=self.ctx.settings.metering.interval_s)
            if tx.stop_reason is not None:
                self._finish()
            elif self.now - tx.last_sample_at >= interval:
                tx.last_sample_at = self.now
                self.meter_values("Sample.Periodic", self.now)
                self._effects.append(PublishStatus(self.id))
        self._try_begin()

    def _finish(self) -> None:
        """Closes the transaction on the last good reading and asks for payment."""
        tx = self.transaction
        assert tx is not None and tx.stop_reason is not None
        if self.reading is not None:
            self.meter_values("Transaction.End", self.now)
        tx.close(self.now)
        self.unpaid_since = self.now
        self._from_journal.discard("unpaid_since")
        self._effects.append(
            Publish(tx.stopped_event(self.ctx.settings.pile.id, self.id, self.now, self.ctx.sign))
        )
        self._step("finish")
        if tx.amount == 0:
            self._settle("Free")
            return
        template = self.ctx.settings.payment.url_template
        tx.qr_payload = tx.payment_url(template, self.ctx.settings.pile.id, self.id)
        self._publish(
            pub.PaymentRequested,
            transaction_id=tx.transaction_id,
            amount=tx.amount,
            currency=tx.tariff.currency,
            qr_payload=tx.qr_payload,
        )

    def _settle(self, how: str) -> None:
        tx = self.transaction
        assert tx is not None and tx.unpaid and tx.amount is not None
        tx.settled = how
        self._publish(
            pub.PaymentSettled,
            transaction_id=tx.transaction_id,
            amount=tx.amount,
            currency=tx.tariff.currency,
            how=how,
        )
        if self._step("settle"):
            self._step("leave")  # if the vehicle has gone already

    def _set_fault(self, code: FaultCode, active: bool) -> None:
        if active == (code in self.faults):
            return
        fault = CATALOGUE[code]
        if not active:
            del self.faults[code]
            self._publish(pub.FaultCleared, code=str(fault.code), message=fault.message)
            self._step("recover")
            return
        if code is FaultCode.METER_FAILURE:
            fault = dataclasses.replace(fault, message=f"{fault.message}: {self.meter_problem}")
        self.faults[code] = fault
        self._publish(pub.FaultRaised, code=str(fault.code), message=fault.message)
        self.authorization = None
        self.end_reservation("Faulted", self.now)
        tx = self.transaction
        if tx is not None and not tx.finished:
            self._request_stop(fault.stop_reason)
            if code is FaultCode.METER_FAILURE:
                self._finish()  # no fresh reading will come: bill on the last good one
        self._step("fault")

    def _tick(self) -> None:
        now, s = self.now, self.ctx.settings
        if self.reservation and now >= self.reservation.expires_at and not self.authorization:
            self.end_reservation("Expired", now)
        auth = self.authorization
        if auth and not self.plugged and now >= auth.plug_by:
            self._step("leave")
        if (
            not self.under_test
            and self.lock_feedback != self.lock_locked
            and self.lock_changed_at is not None
            and now - self.lock_changed_at >= timedelta(milliseconds=s.hal.lock_feedback_ms)
        ):
            self._set_fault(FaultCode.CABLE_LOCK_FAILURE, True)
        if (
            not self.under_test
            and self.relay_feedback != self.relay_closed
            and self.relay_changed_at is not None
            and now - self.relay_changed_at >= timedelta(milliseconds=s.hal.relay_feedback_ms)
        ):
            welded = FaultCode.RELAY_WELDED if self.relay_feedback else FaultCode.RELAY_FAILURE
            self._set_fault(welded, True)
        if not self.meter_is_fresh():
            self._set_fault(FaultCode.METER_FAILURE, True)
        tx = self.transaction
        release_after = s.payment.release_after_s
        if (
            release_after
            and tx is not None
            and tx.unpaid
            and self.unpaid_since
            and now - self.unpaid_since >= timedelta(seconds=release_after)
        ):
            self._settle("ReleasedByPolicy")

    def _clock_stepped(self, delta: timedelta) -> None:
        """Timers that measure a duration move with the step, so none fires early or waits
        late: feedback, meter staleness, the metering interval, lockout, the plug-in window and
        the release policy. Absolute times stay: a reservation expires at the time the backend
        gave, the times already on record (a transaction's start and stop) are not rewritten,
        and deadlines rebuilt from the journal keep the time they were set on."""
        if self.relay_changed_at is not None:
            self.relay_changed_at += delta
        if self.relay_opened_at is not None:
            self.relay_opened_at += delta
        if self.pwm_off_since is not None:
            self.pwm_off_since += delta
        if self.unused_since is not None:
            self.unused_since += delta
        if self.lock_changed_at is not None:
            self.lock_changed_at += delta
        self.meter_watch_since += delta
        if self.reading is not None and self.reading.at is not None:
            self.reading = dataclasses.replace(self.reading, at=self.reading.at + delta)
        if self.gate.locked_until is not None and "locked_until" not in self._from_journal:
            self.gate.locked_until += delta
        if self.authorization is not None:
            self.authorization.plug_by += delta
        if self.unpaid_since is not None and "unpaid_since" not in self._from_journal:
            self.unpaid_since += delta
        if self.transaction is not None and not self.transaction.finished:
            self.transaction.last_sample_at += delta

    def _reconcile(self) -> None:
        tx = self.transaction
        self._set_pilot()
        may_power = (
            self._session_may_draw()
            and self.lock_locked
            and self.lock_feedback
            and self._vehicle_asks()
            and self.diode_ok
        )
        withdrawn = self.pwm_off_since
        keep = may_power and (
            self.pilot_offer is not None
            or (withdrawn is not None and self.now - withdrawn < PWM_WITHDRAWN_GRACE)
        )
        rested = self.relay_opened_at is None or self.now - self.relay_opened_at >= MIN_OPEN
        if self.relay_closed and not keep:
            self._command_relay(False)
        elif not self.relay_closed and may_power and self.pilot_offer is not None:
            if rested:
                self._command_relay(True)
            elif not self._noted_flapping:
                self._noted_flapping = True
                rest = MIN_OPEN.total_seconds()
                self._effects.append(
                    Note(
                        self.id,
                        f"the pilot flaps: the contactor rests {rest:g} s before each close",
                    )
                )
        may_release = (
            self.state in RELEASABLE
            and not self.relay_closed
            and not self.relay_feedback
            and not self.has_unpaid_transaction()
            and not self.has_open_transaction()
        )
        if self.lock_locked and may_release:
            self._command_lock(False)
            self._publish(pub.CableUnlocked, transaction_id=tx.transaction_id if tx else None)

    def _set_pilot(self) -> None:
        """The PWM offers the connector's share while its session may draw; under 6 A, or
        with no session, the pilot is constant +12 V."""
        offer = self.offer if self._session_may_draw() and self.offer >= MIN_A else None
        if offer == self.pilot_offer:
            return
        if offer is None:
            self.pwm_off_since = self.now
        elif self.pilot_offer is None:
            self.pwm_off_since = None
        self.pilot_offer = offer
        self._effects.append(SetPilot(self.id, offer))

    def _step(self, trigger: str) -> bool:
        """Fires `trigger` if the table has a transition for it from the current state and
        that transition's conditions hold; False if the connector did not move. Whether an
        input moves the connector is the table's to say, not a check beside each call."""
        return trigger in self._machine.get_triggers(self.state) and self.trigger(trigger)

    def _holds_reservation(self, reservation_id: str) -> bool:
        held = self.reservation is not None and self.reservation.reservation_id == reservation_id
        return held and self.state in ("reserved", "authenticating") and not self.authorization

    def _on_state_change(self) -> None:
        self.typed = 0  # a half-typed code does not outlive code entry
        # Availability is announced when it changes as the backend sees it: a fault in between
        # (unavailable -> faulted -> unavailable) is not a change of availability.
        available = self.state != "unavailable"
        if self.state != "faulted" and available != self._announced_available:
            self._announced_available = available
            self._publish(pub.AvailabilityChanged, available=available)

    def _publish(self, event: type[pub.Published], **data: Any) -> None:
        self._effects.append(Publish(event(self.id, self.now, **data)))

    def _key(self) -> tuple[Any, ...]:
        tx = self.transaction
        return (
            self.state,
            self.suspended(),
            self.reservation and self.reservation.reservation_id,
            tx and (tx.transaction_id, tx.finished, tx.settled, tx.qr_payload),
            tuple(self.faults),
            self.cp,
            self.pilot_offer,
            self.pp_a,
        )
