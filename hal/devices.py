"""The pile's devices as the config names them, and the core's device effects carried out on
them. pymodbus is imported only when a connector has a Modbus meter."""

from __future__ import annotations

from hal.interfaces import Hardware
from hal.interlock import Interlock
from hal.sim import SimPile
from pile_controller import config
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.pilot import duty_for


def open_hardware(settings: config.Settings) -> Interlock:
    """Simulated relays and locks (the only driver yet), each connector's meter, simulated or
    over Modbus, all behind the interlock."""
    if settings.hal.driver != "sim":
        raise config.ConfigError(['hal.driver: "rpi" is not supported by this version yet'])
    pile = SimPile(
        [c.id for c in settings.connectors], phases={c.id: c.phases for c in settings.connectors}
    )
    for c in settings.connectors:
        if c.meter.model != config.SIM_METER:
            from hal.modbus import endpoint_of, open_meter

            pile.connectors[c.id].meter = open_meter(
                c.meter.model, endpoint_of(c.meter), c.meter.unit
            )
    return Interlock(pile, frozenset(c.id for c in settings.connectors if c.ventilation))


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
