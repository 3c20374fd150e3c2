"""The pile's devices as the config names them, and the core's device effects carried out on
them. pymodbus is imported only when a connector has a Modbus meter."""

from __future__ import annotations

from hal.interfaces import Hardware, Meter
from hal.interlock import Interlock
from hal.rpi import EXTRAS
from hal.sim import SimPile
from pile_controller import config
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.pilot import duty_for

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

        meters = {c.id: modbus_meter(c) for c in settings.connectors}
        return RpiPile(settings, meters, open_spi)
    except ImportError as exc:
        raise config.ConfigError([module_missing("hal.driver", exc)]) from None
    except RuntimeError as exc:  # RPi.GPIO on a board it does not know (a Pi 5: use rpi-lgpio)
        raise config.ConfigError([f"hal.driver: {exc}"]) from None


def module_missing(key: str, exc: ImportError) -> str:
    """One line naming the module that is really missing, and the extra that brings it."""
    module = MODULES.get(exc.name or "", exc.name)
    return f'{key}: "rpi" needs the {module} module: {EXTRAS} ({exc})'


def modbus_meter(c: config.ConnectorSettings) -> Meter:
    from hal.modbus import endpoint_of, open_meter

    return open_meter(c.meter.model, endpoint_of(c.meter), c.meter.unit)


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
