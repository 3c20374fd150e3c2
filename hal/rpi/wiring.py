"""How a Raspberry Pi pile is wired, as this backend takes it: plain parameters (the daemon
makes them from its config). `key` is where each part is configured, named in the one line
that says a device cannot be had."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pin:
    """A GPIO pin (BCM numbering), high when active unless `active_low`."""

    pin: int
    active_low: bool = False


@dataclass(frozen=True)
class Pins:
    relay: Pin
    relay_feedback: Pin  # the contactor's mirror contact: active = closed
    lock: Pin  # a pulse with `unlock`, else a level (active = locked)
    lock_feedback: Pin  # active = locked
    unlock: Pin | None = None
    stop_button: Pin | None = None


@dataclass(frozen=True)
class PilotWiring:
    """The control pilot's front end: a kernel PWM channel out, an MCP300x channel in."""

    pwm_chip: int
    pwm_channel: int
    spi_bus: int
    spi_device: int
    adc_channel: int
    volts_per_count: float
    offset_v: float
    pp_adc_channel: int | None = None  # a socket's PP resistor, through a pull-up
    pp_pullup_ohm: float = 1000.0


@dataclass(frozen=True)
class ConnectorWiring:
    key: str  # "connectors[0]"
    id: int
    pins: Pins
    pilot: PilotWiring
    keypad: Path | None = None  # a Linux input device (evdev)


@dataclass(frozen=True)
class Board:
    estop: Pin
    rcd_fault: Pin | None
    pwm_root: Path
    lock_pulse_ms: int
    connectors: tuple[ConnectorWiring, ...]
