"""What the hardware reports: edges, positions, readings, keystrokes, and the passing of time
(the simulated pile's clock). Every backend reports these through its sink; the core takes them
as its events (`pile_controller/core/events.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hal.pilot import CpState


@dataclass(frozen=True)
class MeterId:
    """Which meter measured: its model (the profile's name), vendor and, where the meter
    reports one, its serial number. A receipt names it, for an auditor."""

    model: str
    vendor: str
    serial: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"model": self.model, "vendor": self.vendor, "serial": self.serial}


@dataclass(frozen=True)
class Reading:
    """One valid meter reading, taken at `at` by `meter`."""

    energy_register_wh: int
    power_w: float
    voltage_v: tuple[float, ...] = ()
    current_a: tuple[float, ...] = ()
    at: datetime | None = field(default=None, compare=False)
    meter: MeterId | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PlugIn:
    connector: int


@dataclass(frozen=True)
class Unplug:
    connector: int


@dataclass(frozen=True)
class CodeEntered:
    connector: int
    digits: str


@dataclass(frozen=True)
class KeysTyped:
    """A keystroke on the keypad: how many digits are typed so far (0: cleared). The digits
    themselves stay in the keypad until enter (`CodeEntered`): they are never in an event that
    could be logged."""

    connector: int
    count: int


@dataclass(frozen=True)
class StopButton:
    connector: int


@dataclass(frozen=True)
class LockFeedback:
    connector: int
    locked: bool


@dataclass(frozen=True)
class RelayFeedback:
    connector: int
    closed: bool


@dataclass(frozen=True)
class PilotState:
    """The control pilot's state changed (A no vehicle .. F not available / no diode)."""

    connector: int
    state: CpState


@dataclass(frozen=True)
class DiodeCheck:
    """While the PWM runs, its low side shows whether the vehicle's diode is there."""

    connector: int
    diode_ok: bool


@dataclass(frozen=True)
class CableAmpacity:
    """A socket's cable, by its proximity (PP) resistor: 13, 20, 32 or 63 A; None when no
    cable is plugged (or the connector's cable is tethered)."""

    connector: int
    amps: int | None


@dataclass(frozen=True)
class MeterReading:
    connector: int
    reading: Reading


@dataclass(frozen=True)
class MeterUnreadable:
    """A poll gave no reading; `problem` says why in one line (named in MeterFailure)."""

    connector: int
    problem: str


@dataclass(frozen=True)
class EmergencyStop:
    """The pile-wide emergency stop input changed."""

    active: bool


@dataclass(frozen=True)
class RcdTrip:
    """The pile-wide residual current device (or 6 mA DC fault detector) output changed."""

    active: bool


@dataclass(frozen=True)
class Tick:
    """Time passed; timers due by `now` fire."""


Report = (
    PlugIn
    | Unplug
    | CodeEntered
    | KeysTyped
    | StopButton
    | LockFeedback
    | RelayFeedback
    | PilotState
    | DiodeCheck
    | CableAmpacity
    | MeterReading
    | MeterUnreadable
    | EmergencyStop
    | RcdTrip
    | Tick
)
