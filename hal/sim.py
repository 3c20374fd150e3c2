"""Simulated hardware: a first-class backend for tests, the demo and `pilectl sim`.

Like gpiozero's mock pins, every device records a history of what happened to it (with the
time of the injected clock), and faults can be injected: a welded relay, a jammed lock, a dead
meter. The simulated meter's import register integrates the simulated vehicle's power while the
relay is closed and the vehicle plugged.

The simulated vehicle talks on the control pilot as a real one does (CONTRACT 9.2): plugged it
reads B; while the PWM offers a current and it wants power it moves to C by itself, back to B
when it wants none or the PWM is withdrawn, and it draws at most what the pilot offers (230 V a
phase, three phases). `cp` forces a pilot state (a short, a fault) until the next plug or
unplug, `pp` sets the cable's ampacity, `diode` takes the vehicle's diode away.

The simulated devices keep no safety rule of their own: like every backend, they are wrapped in
`hal.interlock.Interlock`, which opens a relay on an e-stop, RCD or unplug edge and refuses an
unsafe close. The history records the inputs at each relay movement, so a test can check it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hal import events as ev
from hal.interfaces import ConnectorHardware, MeterError, Sink
from hal.pilot import CpState, amps_for

Clock = Callable[[], float]  # seconds, monotonic


@dataclass
class Record:
    at: float
    device: str
    what: str
    context: dict[str, object] = field(default_factory=dict)  # what else held at that instant


@dataclass
class History:
    clock: Clock
    records: list[Record] = field(default_factory=list)

    def add(self, device: str, what: str, **context: object) -> None:
        self.records.append(Record(self.clock(), device, what, context))

    def of(self, device: str) -> list[Record]:
        return [r for r in self.records if r.device == device]


class SimVehicle:
    def __init__(self) -> None:
        self.plugged = False
        self.power_w = 7000.0  # what it wants to draw while the relay is closed
        self.pp_a: int | None = 32  # its cable's ampacity (a socket's PP)
        self.diode = True
        self.forced: CpState | None = None  # `sim cp`: held until the next plug or unplug
        self.cp = CpState.A

    def pilot_state(self, offer_a: float | None) -> CpState:
        if self.forced is not None:
            return self.forced
        if not self.plugged:
            return CpState.A
        return CpState.C if offer_a is not None and self.power_w > 0 else CpState.B


class SimPilot:
    """The control pilot's PWM as the simulated vehicle sees it: the current it offers."""

    def __init__(self, cid: int, pile: SimPile, phases: int):
        self.cid, self.pile, self.phases = cid, pile, phases
        self.offer_a: float | None = None

    def pwm_on(self, duty_percent: float) -> None:
        self._offer(amps_for(duty_percent))

    def pwm_off(self) -> None:
        self._offer(None)

    def pwm_f(self) -> None:
        self._offer(None)

    def _offer(self, amps: float | None) -> None:
        with self.pile.lock:
            self.pile.meters[self.cid].integrate()
            self.offer_a = amps
        self.pile.history.add(f"pilot{self.cid}", f"{amps:g} A" if amps else "+12 V")
        self.pile.vehicle_moved(self.cid)

    def max_power_w(self) -> float:
        return (self.offer_a or 0.0) * SimMeter.VOLTAGE * self.phases


class SimRelay:
    def __init__(self, cid: int, pile: SimPile):
        self.cid, self.pile = cid, pile
        self.closed = False
        self.welded = False

    @property
    def feedback(self) -> bool:
        return self.closed or self.welded

    def close(self) -> None:
        self._set(True)

    def open(self) -> None:
        self._set(False)

    def _set(self, closed: bool) -> None:
        with self.pile.lock:
            self.pile.meters[self.cid].integrate()
            if self.closed == closed:
                return
            self.closed = closed
            # What the safety invariant depends on, as it was the instant the contacts moved.
            self.pile.history.add(
                f"relay{self.cid}",
                "closed" if closed else "opened",
                lock=self.pile.locks[self.cid].feedback,
                plugged=self.pile.vehicles[self.cid].plugged,
                estop=self.pile.estop,
                rcd=self.pile.rcd,
                cp=str(self.pile.vehicles[self.cid].cp),
            )
        self.pile.report(ev.RelayFeedback(self.cid, self.feedback))


class SimLock:
    def __init__(self, cid: int, pile: SimPile):
        self.cid, self.pile = cid, pile
        self.locked = False
        self.jammed = False  # feedback never reports locked

    @property
    def feedback(self) -> bool:
        return self.locked and not self.jammed

    def lock(self) -> None:
        self._set(True)

    def unlock(self) -> None:
        self._set(False)

    def _set(self, locked: bool) -> None:
        self.locked = locked
        self.pile.history.add(f"lock{self.cid}", "locked" if locked else "released")
        self.pile.report(ev.LockFeedback(self.cid, self.feedback))


class SimMeter:
    """An energy meter on one connector whose register integrates what the vehicle draws."""

    VOLTAGE = 230.0

    def __init__(self, cid: int, pile: SimPile, register_wh: float = 0.0):
        self.cid, self.pile = cid, pile
        self.register_wh = register_wh
        self.dead = False
        self._since = pile.clock()
        self.identity = ev.MeterId("sim", "simulated", f"SIM-{cid:04d}")

    def power_w(self) -> float:
        relay, vehicle = self.pile.relays[self.cid], self.pile.vehicles[self.cid]
        pilot = self.pile.pilots[self.cid]
        if not (relay.feedback and vehicle.plugged and vehicle.cp in (CpState.C, CpState.D)):
            return 0.0
        return min(vehicle.power_w, pilot.max_power_w())

    def integrate(self) -> None:
        now = self.pile.clock()
        self.register_wh += self.power_w() * (now - self._since) / 3600.0
        self._since = now

    def read(self) -> ev.Reading:
        with self.pile.lock:
            if self.dead:
                raise MeterError(f"simulated meter {self.cid}: no response")
            self.integrate()
            power = self.power_w()
            phases = self.pile.pilots[self.cid].phases
            current = round(power / phases / self.VOLTAGE, 3)
            currents = (current,) * phases + (0.0,) * (3 - phases)
            # Whole watt-hours, as a meter's counter shows them (rounding off float dust first).
            return ev.Reading(
                int(round(self.register_wh, 6)),
                power,
                (self.VOLTAGE,) * 3,
                currents,
                meter=self.identity,
            )

    def close(self) -> None:
        pass


class SimPile:
    """All simulated devices of a pile, plus the knobs `pilectl sim` turns."""

    def __init__(
        self,
        connector_ids: list[int],
        clock: Clock = time.monotonic,
        phases: dict[int, int] | None = None,  # what each connector supplies (default 3)
    ):
        self.skipped = 0.0  # seconds `skip` jumped ahead: the vehicle charges through them
        self.clock: Clock = lambda: clock() + self.skipped
        self.lock = threading.RLock()
        self.history = History(clock)
        self.sink: Sink | None = None
        self.estop = False
        self.rcd = False
        self.vehicles = {c: SimVehicle() for c in connector_ids}
        self.relays = {c: SimRelay(c, self) for c in connector_ids}
        self.pilots = {c: SimPilot(c, self, (phases or {}).get(c, 3)) for c in connector_ids}
        self.locks = {c: SimLock(c, self) for c in connector_ids}
        self.meters = {c: SimMeter(c, self) for c in connector_ids}
        self.connectors = {
            c: ConnectorHardware(self.relays[c], self.locks[c], self.meters[c], self.pilots[c])
            for c in connector_ids
        }

    def attach(self, sink: Sink) -> None:
        self.sink = sink

    def close(self) -> None:
        self.sink = None

    def report(self, event: ev.Report) -> None:
        if self.sink is not None:
            self.sink(event)

    # --- what a person (or a test) does to the pile ---------------------------------------------

    def plug(self, cid: int) -> None:
        vehicle = self.vehicles[cid]
        vehicle.plugged, vehicle.forced = True, None
        self.history.add(f"vehicle{cid}", "plugged")
        self.report(ev.PlugIn(cid))
        self.report(ev.CableAmpacity(cid, vehicle.pp_a))
        self.vehicle_moved(cid)

    def unplug(self, cid: int) -> None:
        vehicle = self.vehicles[cid]
        with self.lock:
            self.meters[cid].integrate()
            vehicle.plugged, vehicle.forced = False, None
        self.history.add(f"vehicle{cid}", "unplugged")
        self.vehicle_moved(cid)
        self.report(ev.CableAmpacity(cid, None))
        self.report(ev.Unplug(cid))

    def vehicle_moved(self, cid: int) -> None:
        """Reports the pilot's state if what the vehicle does (or is forced to) changed it."""
        vehicle = self.vehicles[cid]
        with self.lock:
            self.meters[cid].integrate()
            state = vehicle.pilot_state(self.pilots[cid].offer_a)
            if state == vehicle.cp:
                return
            vehicle.cp = state
        self.history.add(f"vehicle{cid}", f"pilot {state}")
        self.report(ev.PilotState(cid, state))

    def force_pilot(self, cid: int, state: CpState) -> None:
        self.vehicles[cid].forced = state
        self.vehicle_moved(cid)

    def set_cable(self, cid: int, amps: int | None) -> None:
        vehicle = self.vehicles[cid]
        vehicle.pp_a = amps
        if vehicle.plugged:
            self.report(ev.CableAmpacity(cid, amps))

    def set_diode(self, cid: int, present: bool) -> None:
        self.vehicles[cid].diode = present
        self.report(ev.DiodeCheck(cid, present))

    def code(self, cid: int, digits: str) -> None:
        self.report(ev.CodeEntered(cid, digits))

    def stop_button(self, cid: int) -> None:
        self.report(ev.StopButton(cid))

    def ev_power(self, cid: int, watts: float) -> None:
        with self.lock:
            self.meters[cid].integrate()
            self.vehicles[cid].power_w = watts
        self.vehicle_moved(cid)  # to C when it wants power, to B when it wants none

    def set_estop(self, active: bool) -> None:
        self.estop = active
        self.history.add("estop", "pressed" if active else "released")
        self.report(ev.EmergencyStop(active))

    def set_rcd(self, tripped: bool) -> None:
        self.rcd = tripped
        self.history.add("rcd", "tripped" if tripped else "reset")
        self.report(ev.RcdTrip(tripped))

    def weld(self, cid: int, welded: bool) -> None:
        relay = self.relays[cid]
        with self.lock:
            self.meters[cid].integrate()
            relay.welded = welded
        self.report(ev.RelayFeedback(cid, relay.feedback))

    def jam_lock(self, cid: int, jammed: bool) -> None:
        lock = self.locks[cid]
        lock.jammed = jammed
        self.report(ev.LockFeedback(cid, lock.feedback))

    def skip(self, seconds: float) -> None:
        """Time jumps ahead: energy flows through the jump, and `wall_clock` moves with it.
        ValueError, and no jump, past MAX_SKIP_S in all: a clock that cannot be read any more
        would fail every later step of the daemon, not just this one."""
        with self.lock:
            if not 0 <= self.skipped + seconds <= MAX_SKIP_S:
                raise ValueError(
                    f"the clock may jump ahead at most {MAX_SKIP_S} s in all "
                    f"({self.skipped:g} s so far), not {seconds:g} s more"
                )
            self.skipped += seconds

    def wall_clock(self) -> datetime:
        """The simulated pile's wall clock (the daemon's `now`): real time, plus every skip."""
        return datetime.now(UTC) + timedelta(seconds=self.skipped)

    def jump(self, seconds: float) -> None:
        """`pilectl sim clock +SECONDS`, as trio's MockClock does for tests: time skips ahead,
        the meters are read at the new time, then the timers run. Reading first keeps the jump
        itself from making the meters look stale."""
        self.skip(seconds)
        for cid, hardware in self.connectors.items():
            try:
                reading = hardware.meter.read()
            except MeterError as exc:
                self.report(ev.MeterUnreadable(cid, str(exc)))
                continue
            self.report(ev.MeterReading(cid, replace(reading, at=self.wall_clock())))
        self.report(ev.Tick())

    def kill_meter(self, cid: int, dead: bool) -> None:
        self.meters[cid].dead = dead

    def drive(self, args: list[str]) -> None:
        drive(self, args)


# A hundred years: far past any timer a test or a demo wants, and far inside datetime's range.
MAX_SKIP_S = 100 * 366 * 86400

SIM_USAGE = (
    "clock +SECONDS | plug N | unplug N | code N DIGITS | stop-button N | ev-power N WATTS | "
    "cp N A|B|C|D|E|F | pp N 13|20|32|63|none | diode N on|off | "
    "estop on|off | rcd on|off | weld N on|off | lock-jam N on|off | meter-dead N on|off"
)


def drive(pile: SimPile, args: list[str]) -> None:
    """Carries out one `pilectl sim` command; ValueError with a one-line reason if malformed."""

    def connector(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or int(text) not in pile.vehicles:
            raise ValueError(f"no connector {text!r} (have {sorted(pile.vehicles)})")
        return int(text)

    def on_off(text: str) -> bool:
        if text not in ("on", "off"):
            raise ValueError(f"expected on or off, got {text!r}")
        return text == "on"

    match args:
        case ["plug", n]:
            pile.plug(connector(n))
        case ["unplug", n]:
            pile.unplug(connector(n))
        case ["code", n, digits] if digits.isascii() and digits.isdigit():
            pile.code(connector(n), digits)
        case ["stop-button", n]:
            pile.stop_button(connector(n))
        case ["ev-power", n, watts]:
            try:
                power = float(watts)
            except ValueError:
                raise ValueError(f"watts must be a number, got {watts!r}") from None
            if not 0 <= power <= 400_000:
                raise ValueError(f"watts must be between 0 and 400000, got {watts}")
            pile.ev_power(connector(n), power)
        case ["estop", state]:
            pile.set_estop(on_off(state))
        case ["cp", n, state] if state in CpState.__members__:
            pile.force_pilot(connector(n), CpState(state))
        case ["pp", n, amps] if amps in ("13", "20", "32", "63", "none"):
            pile.set_cable(connector(n), None if amps == "none" else int(amps))
        case ["diode", n, state]:
            pile.set_diode(connector(n), on_off(state))
        case ["rcd", state]:
            pile.set_rcd(on_off(state))
        case ["weld", n, state]:
            pile.weld(connector(n), on_off(state))
        case ["lock-jam", n, state]:
            pile.jam_lock(connector(n), on_off(state))
        case ["meter-dead", n, state]:
            pile.kill_meter(connector(n), on_off(state))
        case ["clock", seconds] if seconds.lstrip("+").isascii() and seconds.lstrip("+").isdigit():
            pile.jump(int(seconds.lstrip("+")))
        case _:
            raise ValueError(f"unknown sim command {' '.join(args)!r}; usage: {SIM_USAGE}")
