"""The pile's devices as the config names them (hal takes plain parameters, and knows nothing
of the config), and the core's device effects carried out on them. pymodbus is imported only
when a connector has a Modbus meter."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, overload

from hal.interfaces import Hardware, Meter, Unavailable
from hal.interlock import Interlock
from hal.pilot import duty_for
from hal.rpi import EXTRAS
from hal.rpi.wiring import Board, ConnectorWiring, PilotWiring, Pin, Pins
from hal.sim import SimPile
from pile_controller import config
from pile_controller.core import effects as fx
from pile_controller.core import events as ev

if TYPE_CHECKING:
    from hal.modbus import Endpoint

# What an ImportError's `name` is, as the module a technician would look for.
MODULES = {"RPi": "RPi.GPIO"}


def open_hardware(settings: config.Settings) -> Interlock:
    """The driver's relays, locks, inputs and pilots, each connector's meter (simulated, or
    over Modbus), all behind the interlock. A device that cannot be had is a ConfigError of
    one line naming its key."""
    ventilated = frozenset(c.id for c in settings.connectors if c.ventilation)
    if settings.hal.driver == "rpi":
        return Interlock(open_rpi(settings), ventilated)
    pile = SimPile(
        [c.id for c in settings.connectors], phases={c.id: c.phases for c in settings.connectors}
    )
    for c in settings.connectors:
        if c.meter.model != config.SIM_METER:
            pile.connectors[c.id].meter = modbus_meter(c)
    return Interlock(pile, ventilated)


def open_rpi(settings: config.Settings) -> Hardware:
    try:  # RPi.GPIO and spidev are imported only for this driver, evdev only for a keypad
        from hal.rpi.pile import RpiPile, open_spi
        from hal.rpi.pins import RPiGPIOFactory

        meters = {c.id: modbus_meter(c) for c in settings.connectors}
        return RpiPile(rpi_board(settings), meters, open_spi, RPiGPIOFactory())
    except Unavailable as exc:
        raise config.ConfigError([str(exc)]) from None
    except ImportError as exc:
        raise config.ConfigError([module_missing("hal.driver", exc)]) from None
    except RuntimeError as exc:  # RPi.GPIO on a board it does not know (a Pi 5: use rpi-lgpio)
        raise config.ConfigError([f"hal.driver: {exc}"]) from None


def rpi_board(settings: config.Settings) -> Board:
    """The Raspberry Pi's wiring, as hal takes it, from the settings (check-config has made
    sure the rpi driver's keys are there)."""
    hal = settings.hal
    assert hal.estop is not None
    connectors = []
    for i, c in enumerate(settings.connectors):
        assert c.pins is not None and c.pilot is not None
        pins = {f.name: pin_of(getattr(c.pins, f.name)) for f in dataclasses.fields(Pins)}
        pilot = PilotWiring(**dataclasses.asdict(c.pilot))
        keypad = c.keypad.device if c.keypad else None
        connectors.append(ConnectorWiring(f"connectors[{i}]", c.id, Pins(**pins), pilot, keypad))
    return Board(
        pin_of(hal.estop), pin_of(hal.rcd_fault), hal.pwm_root, hal.lock_pulse_ms, tuple(connectors)
    )


@overload
def pin_of(pin: config.Pin) -> Pin: ...
@overload
def pin_of(pin: None) -> None: ...
def pin_of(pin: config.Pin | None) -> Pin | None:
    return Pin(pin.pin, pin.active_low) if pin else None


def module_missing(key: str, exc: ImportError) -> str:
    """One line naming the module that is really missing, and the extra that brings it."""
    module = MODULES.get(exc.name or "", exc.name)
    return f'{key}: "rpi" needs the {module} module: {EXTRAS} ({exc})'


def modbus_meter(c: config.ConnectorSettings) -> Meter:
    from hal.modbus import open_meter

    return open_meter(c.meter.model, endpoint_of(c.meter), c.meter.unit)


def endpoint_of(meter: config.MeterSettings) -> Endpoint:
    """Where the config says the meter is (pymodbus is imported only with a Modbus meter)."""
    from hal.modbus import Endpoint

    if meter.transport == "tcp":
        return Endpoint("tcp", host=meter.host or "", port=meter.port or 502)
    return Endpoint(
        "rtu",
        device=meter.device or "",
        baudrate=meter.baudrate,
        parity=meter.parity,
        stopbits=meter.stopbits,
    )


def actuate(hardware: Hardware, effect: fx.Effect) -> ev.Actuated | None:
    """Carries out a relay or lock effect and returns the event that tells the core it reached
    the device; None for effects that are not the hardware's."""
    match effect:
        case fx.CloseRelay(connector=c):
            hardware.connectors[c].relay.close()
            return ev.Actuated(c, "relay")
        case fx.OpenRelay(connector=c):
            hardware.connectors[c].relay.open()
            return ev.Actuated(c, "relay")
        case fx.LockCable(connector=c):
            hardware.connectors[c].lock.lock()
            return ev.Actuated(c, "lock")
        case fx.UnlockCable(connector=c):
            hardware.connectors[c].lock.unlock()
            return ev.Actuated(c, "lock")
        case fx.SetPilot(connector=c, amps=amps):
            pilot = hardware.connectors[c].pilot
            if amps is None:
                pilot.pwm_off()
            else:
                pilot.pwm_on(duty_for(amps))
    return None
