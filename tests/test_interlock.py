"""The interlock beneath the core holds for every backend: a relay closes only with the lock
locked, a vehicle connected and asking for power (pilot C), its diode there, and no e-stop or
RCD trip, whatever it is asked; an edge that ends one of those opens the relay in the input
callback, on the callback's thread, before the core hears of it."""

import threading
from collections.abc import Callable

import pytest

from hal.interlock import Interlock
from hal.pilot import CpState
from hal.sim import SimPile
from pile_controller.core import events as ev


def ready(connectors: list[int] | None = None) -> tuple[Interlock, SimPile, list[ev.Event]]:
    """Every connector plugged and locked; what reaches the core is in the list."""
    sim = SimPile(connectors or [1, 2])
    interlock = Interlock(sim)
    heard: list[ev.Event] = []
    interlock.attach(heard.append)
    for cid in sim.relays:
        sim.plug(cid)
        sim.locks[cid].lock()
        sim.pilots[cid].pwm_on(53.3)  # 32 A offered: the vehicle moves to C
    return interlock, sim, heard


def test_a_relay_closes_when_every_condition_holds() -> None:
    interlock, sim, _ = ready()
    interlock.connectors[1].relay.close()
    assert sim.relays[1].closed and interlock.refused == []


UNSAFE: dict[str, Callable[[SimPile], None]] = {
    "no vehicle": lambda sim: sim.unplug(1),
    "lock not locked": lambda sim: sim.locks[1].unlock(),
    "lock jammed": lambda sim: sim.jam_lock(1, True),
    "e-stop pressed": lambda sim: sim.set_estop(True),
    "the vehicle stops asking (C -> B)": lambda sim: sim.ev_power(1, 0),
    "the PWM withdrawn": lambda sim: sim.pilots[1].pwm_off(),
    "a pilot short (E)": lambda sim: sim.force_pilot(1, CpState.E),
    "the vehicle's diode missing": lambda sim: sim.set_diode(1, False),
    "RCD tripped": lambda sim: sim.set_rcd(True),
}


@pytest.mark.parametrize("make_unsafe", UNSAFE.values(), ids=UNSAFE.keys())
def test_a_close_is_refused_while_unsafe(make_unsafe: Callable[[SimPile], None]) -> None:
    interlock, sim, _ = ready()
    make_unsafe(sim)
    interlock.connectors[1].relay.close()
    assert not sim.relays[1].closed
    assert [cid for cid, _ in interlock.refused] == [1]


@pytest.mark.parametrize("make_unsafe", UNSAFE.values(), ids=UNSAFE.keys())
def test_an_edge_that_makes_it_unsafe_opens_the_relay_before_the_core_hears(
    make_unsafe: Callable[[SimPile], None],
) -> None:
    interlock, sim, _ = ready()
    interlock.connectors[1].relay.close()
    relay_when_heard: list[bool] = []
    interlock._sink = lambda event: relay_when_heard.append(sim.relays[1].closed)
    make_unsafe(sim)
    assert not sim.relays[1].closed
    assert relay_when_heard and not any(relay_when_heard)


def test_an_unplug_opens_only_its_own_relay() -> None:
    interlock, sim, _ = ready()
    for relay in interlock.connectors.values():
        relay.relay.close()
    sim.unplug(1)
    assert not sim.relays[1].closed and sim.relays[2].closed


def test_an_estop_opens_every_relay_on_the_callbacks_own_thread() -> None:
    interlock, sim, heard = ready()
    for hw in interlock.connectors.values():
        hw.relay.close()
    opened_on: list[int | None] = []
    relay_open = sim.relays[1].open

    def open_and_note_the_thread() -> None:
        opened_on.append(threading.get_ident())
        relay_open()

    sim.relays[1].open = open_and_note_the_thread  # type: ignore[method-assign]
    edge = threading.Thread(target=sim.set_estop, args=(True,))
    edge.start()
    edge.join()
    assert not sim.relays[1].closed and not sim.relays[2].closed
    assert opened_on and set(opened_on) == {edge.ident}
    assert ev.EmergencyStop(True) in heard  # and then the core is told


def test_a_ventilated_connector_may_close_in_d_an_other_may_not() -> None:
    sim = SimPile([1, 2])
    interlock = Interlock(sim, ventilated=frozenset({1}))
    interlock.attach(lambda _: None)
    for cid in (1, 2):
        sim.plug(cid)
        sim.locks[cid].lock()
        sim.force_pilot(cid, CpState.D)
        interlock.connectors[cid].relay.close()
    assert sim.relays[1].closed and not sim.relays[2].closed


def test_once_released_the_relay_may_close_again() -> None:
    interlock, sim, _ = ready()
    sim.set_estop(True)
    sim.set_estop(False)
    interlock.connectors[1].relay.close()
    assert sim.relays[1].closed
