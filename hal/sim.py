"""Simulated hardware: a first-class backend for tests, the demo and `pilectl sim`.

Like gpiozero's mock pins, every device records a history of what happened to it (with the
time of the injected clock), and faults can be injected: a welded relay, a jammed lock, a dead
meter. The simulated meter's import register integrates the simulated vehicle's power while the
relay is closed and the vehicle plugged.

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

from hal.interfaces import ConnectorHardware, MeterError, Sink
from pile_controller.core import events as ev

Clock = Callable[[], float]  # seconds, monotonic


@dataclass
class Record:
    at: float
    device: str
    what: str
    context: dict[str, bool] = field(default_factory=dict)  # what else was true at that instant


@dataclass
class History:
    clock: Clock
    records: list[Record] = field(default_factory=list)

    def add(self, device: str, what: str, **context: bool) -> None:
        self.records.append(Record(self.clock(), device, what, context))

    def of(self, device: str) -> list[Record]:
        return [r for r in self.records if r.device == device]


class SimVehicle:
    def __init__(self) -> None:
        self.plugged = False
        self.power_w = 7000.0  # what it draws while the relay is closed


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

    def power_w(self) -> float:
        relay, vehicle = self.pile.relays[self.cid], self.pile.vehicles[self.cid]
        return vehicle.power_w if relay.feedback and vehicle.plugged else 0.0

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
            current = round(power / 3 / self.VOLTAGE, 3)
            # Whole watt-hours, as a meter's counter shows them (rounding off float dust first).
            return ev.Reading(
                int(round(self.register_wh, 6)), power, (self.VOLTAGE,) * 3, (current,) * 3
            )

    def close(self) -> None:
        pass


class SimPile:
    """All simulated devices of a pile, plus the knobs `pilectl sim` turns."""

    def __init__(self, connector_ids: list[int], clock: Clock = time.monotonic):
        self.skipped = 0.0  # seconds `skip` jumped ahead: the vehicle charges through them
        self.clock: Clock = lambda: clock() + self.skipped
        self.lock = threading.RLock()
        self.history = History(clock)
        self.sink: Sink | None = None
        self.estop = False
        self.rcd = False
        self.vehicles = {c: SimVehicle() for c in connector_ids}
        self.relays = {c: SimRelay(c, self) for c in connector_ids}
        self.locks = {c: SimLock(c, self) for c in connector_ids}
        self.meters = {c: SimMeter(c, self) for c in connector_ids}
        self.connectors = {
            c: ConnectorHardware(self.relays[c], self.locks[c], self.meters[c])
            for c in connector_ids
        }

    def attach(self, sink: Sink) -> None:
        self.sink = sink

    def close(self) -> None:
        self.sink = None

    def report(self, event: ev.Event) -> None:
        if self.sink is not None:
            self.sink(event)

    # --- what a person (or a test) does to the pile ---------------------------------------------

    def plug(self, cid: int) -> None:
        self.vehicles[cid].plugged = True
        self.history.add(f"vehicle{cid}", "plugged")
        self.report(ev.PlugIn(cid))

    def unplug(self, cid: int) -> None:
        with self.lock:
            self.meters[cid].integrate()
            self.vehicles[cid].plugged = False
        self.history.add(f"vehicle{cid}", "unplugged")
        self.report(ev.Unplug(cid))

    def code(self, cid: int, digits: str) -> None:
        self.report(ev.CodeEntered(cid, digits))

    def stop_button(self, cid: int) -> None:
        self.report(ev.StopButton(cid))

    def ev_power(self, cid: int, watts: float) -> None:
        with self.lock:
            self.meters[cid].integrate()
            self.vehicles[cid].power_w = watts

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
        """Time jumps ahead: energy flows through the jump, and `wall_clock` moves with it."""
        with self.lock:
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


SIM_USAGE = (
    "clock +SECONDS | plug N | unplug N | code N DIGITS | stop-button N | ev-power N WATTS | "
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
