"""One small interface per kind of device. Backends (sim, rpi, modbus) implement them.

Devices report what they sense through one callback, `Sink`, which receives core events
(`PlugIn`, `LockFeedback`, ...). A sink may be called from any thread; the daemon's sink hands
the event over to its event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from hal.events import Reading, Report

Sink = Callable[[Report], None]


class Unavailable(Exception):
    """A device that cannot be had at the start (a busy pin, a missing file or module): one
    line, naming where the device is configured."""


class MeterError(Exception):
    """A meter gave no valid reading; the message names the cause in one line."""


class Relay(Protocol):
    def close(self) -> None: ...
    def open(self) -> None: ...


class CableLock(Protocol):
    """After every `lock()` or `unlock()` the backend reports the lock's feedback
    (`LockFeedback`) once it has settled, even when it did not change: a session begins only
    on feedback that came after the lock was commanded."""

    def lock(self) -> None: ...
    def unlock(self) -> None: ...


class Pilot(Protocol):
    """A connector's control pilot (IEC 61851-1), after EVerest's `evse_board_support`: the pile
    writes the 1 kHz signal, the vehicle answers by moving its voltage. Commands out: the PWM
    offering a current (`pwm_on`, duty from `core.pilot.duty_for`), constant +12 V (`pwm_off`:
    no offer, the vehicle is only watched), constant -12 V (`pwm_f`: the pile is not
    available). Events in, through the sink: `PilotState` on every change of state A..F,
    `DiodeCheck` when the low side of the PWM shows the vehicle's diode missing or back, and
    `CableAmpacity` when a socket's cable is plugged or unplugged (PP). The contactor's mirror
    contact is the relay's feedback (`RelayFeedback`). What EVerest calls the hardware's
    capabilities (the most current, the phases, ventilation, a tethered cable) are the
    connector's settings (`[[connectors]]` in the config)."""

    def pwm_on(self, duty_percent: float) -> None: ...
    def pwm_off(self) -> None: ...
    def pwm_f(self) -> None: ...


class Meter(Protocol):
    def read(self) -> Reading:
        """One reading, or MeterError. May block for the bus round trip."""
        ...

    def close(self) -> None: ...


@dataclass
class ConnectorHardware:
    relay: Relay
    lock: CableLock
    meter: Meter
    pilot: Pilot


class Hardware(Protocol):
    """A pile's devices: per-connector relay, lock and meter; inputs reported to the sink."""

    connectors: dict[int, ConnectorHardware]

    def attach(self, sink: Sink) -> None:
        """Starts reporting inputs (plug, keypad, stop button, e-stop, feedback) to `sink`:
        first each input as it stands (a vehicle plugged, a lock engaged, the e-stop pressed),
        then every change. The interlock beneath the core knows the inputs only from these."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Simulated(Protocol):
    """Hardware a technician drives by hand (`pilectl sim`), with a wall clock of its own
    that `pilectl sim clock` moves: what the simulated pile offers beyond `Hardware`."""

    def drive(self, args: list[str]) -> None:
        """Carries out one `pilectl sim` command; ValueError with a one-line reason if not."""
        ...

    def wall_clock(self) -> datetime: ...
