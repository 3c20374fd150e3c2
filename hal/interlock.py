"""The safety rule beneath the core, for every hardware backend (sim today, rpi to come).

`Interlock` wraps any `Hardware`. A relay output closes only while that connector's lock
reports locked, its vehicle is connected, and neither the e-stop nor the RCD is tripped,
whatever the core asks. An input edge that ends one of those conditions (e-stop, RCD, unplug,
a lock that lets go) opens every affected relay right there, in the input callback and on the
callback's own thread, and only then is the event passed on to the core. The safety path waits
for neither the event loop nor the journal's disk (ARCHITECTURE principle 6).

The interlock learns the conditions from the same events the core hears, so both agree; a
close it refuses is either a race the core is about to hear of (an edge arrived while the close
was on its way) or a bug in the core. Either way it is logged, and counted in `refused` for the
tests, which hold the core to never asking for one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from hal import events as ev
from hal.interfaces import ConnectorHardware, Hardware, Relay, Sink
from hal.pilot import CpState, asks_for_power

log = logging.getLogger(__name__)


@dataclass
class Conditions:
    """What one connector's relay needs, as the inputs last reported it."""

    locked: bool = False
    relay_closed: bool = False  # what the mirror contact reports
    plugged: bool = False
    cp: CpState = CpState.A
    diode_ok: bool = True
    ventilation: bool = False  # the connector may charge in D

    def missing(self) -> str | None:
        if not self.plugged:
            return "no vehicle connected"
        if not self.locked:
            return "the cable lock does not report locked"
        if not asks_for_power(self.cp, self.ventilation):
            return f"the vehicle does not ask for power (pilot {self.cp})"
        if not self.diode_ok:
            return "the vehicle's diode is missing"
        return None

    def vehicle(self) -> str | None:
        """Why a technician's test may not close the relay: a vehicle at the connector."""
        if self.plugged:
            return "a vehicle is connected"
        if self.cp is not CpState.A:
            return f"the pilot reads {self.cp}, not A"
        return None


class InterlockedRelay:
    def __init__(self, interlock: Interlock, cid: int, relay: Relay):
        self.interlock, self.cid, self.relay = interlock, cid, relay

    def close(self) -> None:
        self.interlock.close_relay(self.cid)

    def open(self) -> None:
        self.relay.open()  # always safe, never waits


class Interlock:
    def __init__(self, backend: Hardware, ventilated: frozenset[int] = frozenset()):
        self.backend = backend
        self._guard = threading.RLock()  # an opening reports feedback through `_input` again
        self._sink: Sink | None = None
        self.conditions = {
            cid: Conditions(ventilation=cid in ventilated) for cid in backend.connectors
        }
        self.estop = False
        self.rcd = False
        self.refused: list[tuple[int, str]] = []  # (connector, why) of every refused close
        # Connectors under a technician's test, and why a test's close was ended early.
        self.testing: dict[int, str | None] = {}
        self._changed = threading.Condition(self._guard)
        self._relays = [hw.relay for hw in backend.connectors.values()]
        self.connectors = {
            cid: ConnectorHardware(
                InterlockedRelay(self, cid, hw.relay), hw.lock, hw.meter, hw.pilot
            )
            for cid, hw in backend.connectors.items()
        }

    def attach(self, sink: Sink) -> None:
        self._sink = sink
        self.backend.attach(self._input)

    def close(self) -> None:
        self.backend.close()
        self._sink = None

    def close_relay(self, cid: int) -> None:
        with self._guard:
            why = self._blocked(cid)
            if why is None:
                self.backend.connectors[cid].relay.close()
                return
            self.refused.append((cid, why))
        log.warning("connector %d: relay not closed: %s", cid, why)

    def _blocked(self, cid: int) -> str | None:
        if self.estop:
            return "the emergency stop is pressed"
        if self.rcd:
            return "the residual current device has tripped"
        if cid in self.testing:
            return self.conditions[cid].vehicle()
        return self.conditions[cid].missing()

    def _input(self, event: ev.Report) -> None:
        """Every input of the backend passes here on its way to the core (on the backend's
        thread): first the relays it makes unsafe open, then the core hears of it."""
        if isinstance(event, ev.EmergencyStop | ev.RcdTrip) and event.active:
            # Every relay opens before anything else is done: no lock to wait for, no other
            # Python work that another thread could take the interpreter away in the middle of.
            for relay in self._relays:
                relay.open()
        with self._guard:
            affected = self._learn(event)
            for cid in affected:
                if (why := self._blocked(cid)) is not None:
                    self.backend.connectors[cid].relay.open()
                    if cid in self.testing and self.testing[cid] is None:
                        self.testing[cid] = why
            self._changed.notify_all()
        if self._sink is not None:
            self._sink(event)

    def _learn(self, event: ev.Report) -> list[int]:
        """Updates the conditions from `event`; the connectors whose relay it concerns."""
        match event:
            case ev.PlugIn(connector=c) | ev.Unplug(connector=c) if c in self.conditions:
                self.conditions[c].plugged = isinstance(event, ev.PlugIn)
                return [c]
            case ev.LockFeedback(connector=c, locked=locked) if c in self.conditions:
                self.conditions[c].locked = locked
                return [c]
            case ev.RelayFeedback(connector=c, closed=closed) if c in self.conditions:
                self.conditions[c].relay_closed = closed
                return []
            case ev.PilotState(connector=c, state=state) if c in self.conditions:
                self.conditions[c].cp = state  # C -> B opens here, not 100 ms later
                return [c]
            case ev.DiodeCheck(connector=c, diode_ok=ok) if c in self.conditions:
                self.conditions[c].diode_ok = ok
                return [c]
            case ev.EmergencyStop(active=active):
                self.estop = active
                return list(self.conditions)
            case ev.RcdTrip(active=active):
                self.rcd = active
                return list(self.conditions)
        return []

    # --- a technician's tests (hal/trials.py runs them) ----------------------------------------

    def begin_test(self, cid: int) -> None:
        """From now the relay of `cid` may close with no vehicle, the cable unlocked, and only
        while the pilot reads A (no vehicle) and neither the e-stop nor the RCD is tripped:
        a vehicle arriving opens it at once, as any unsafe edge does."""
        with self._guard:
            self.testing[cid] = None

    def test_close(self, cid: int) -> str | None:
        """Closes the relay of `cid` under test; why not, if it may not."""
        with self._guard:
            why = self._blocked(cid)
            if why is None:
                self.backend.connectors[cid].relay.close()
            return why

    def end_test(self, cid: int) -> str | None:
        """Opens the relay; why the test's close was ended early, if it was."""
        with self._guard:
            self.backend.connectors[cid].relay.open()
            return self.testing.pop(cid, None)

    def wait_until(self, holds: Callable[[Conditions], bool], cid: int, timeout_s: float) -> bool:
        """Waits (on the caller's thread) until the inputs of `cid` satisfy `holds`."""
        with self._changed:
            return self._changed.wait_for(lambda: holds(self.conditions[cid]), timeout_s)
