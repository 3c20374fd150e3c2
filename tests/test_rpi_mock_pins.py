"""The Raspberry Pi backend over pins in memory (hal/rpi/mock.py, the pin factory a test or a
benchmark uses instead of RPi.GPIO): the same backend code drives them, an e-stop edge opens
the relay on the factory's thread with the time of each level recorded, and a pin something
else holds is one line naming its key."""

import dataclasses
import time
from pathlib import Path

import pytest

from hal.events import Reading
from hal.interfaces import Unavailable
from hal.interlock import Interlock
from hal.rpi.mock import MockAdc, MockFactory
from hal.rpi.pile import RpiPile
from hal.rpi.wiring import Board
from pile_controller import config
from pile_controller.service.hardware import rpi_board
from rig.board import ESTOP, LOCK, LOCK_FEEDBACK, RELAY, RELAY_FEEDBACK, pwm_folder

ROOT = Path(__file__).resolve().parent.parent


class Meter:
    def read(self) -> Reading:
        return Reading(1000, 0.0)

    def close(self) -> None:
        pass


def one_connector(tmp_path: Path) -> Board:
    settings = config.load(ROOT / "config.rpi.toml")
    settings = dataclasses.replace(
        settings,
        hal=dataclasses.replace(settings.hal, pwm_root=pwm_folder(tmp_path)),
        connectors=(dataclasses.replace(settings.connectors[0], keypad=None),),
    )
    return rpi_board(settings)


def test_an_estop_edge_opens_the_relay_on_the_factorys_thread(tmp_path: Path) -> None:
    pins = MockFactory()
    pins.wire(RELAY, True, RELAY_FEEDBACK, True)  # the contactor's mirror contact
    pins.wire(LOCK, True, LOCK_FEEDBACK, True)
    pins.pin(ESTOP).drive_high()  # the e-stop loop closed (active low)
    pile = RpiPile(one_connector(tmp_path), {1: Meter()}, lambda b, d: MockAdc(), pins)
    interlock = Interlock(pile)
    heard: list[object] = []
    interlock.attach(heard.append)
    try:
        pins.pin(LOCK_FEEDBACK).drive_high()
        pins.settle()
        deadline = time.monotonic() + 2  # the pilot sampler's thread sees C within a burst
        while pile.rpi[1].cp != "C":
            assert time.monotonic() < deadline, "the pilot never read C"
            time.sleep(0.005)
        interlock.connectors[1].relay.close()
        assert pins.pin(RELAY).state and pins.pin(RELAY_FEEDBACK).state
        closed = len(pins.pin(RELAY).history)
        pins.pin(ESTOP).drive_low()
        pins.settle()
        after = [high for _, high in pins.pin(RELAY).history[closed:]]
        assert after and not any(after)  # written low (again, harmlessly, by the interlock)
    finally:
        interlock.close()


def test_a_pin_held_by_something_else_is_one_line_naming_its_key(tmp_path: Path) -> None:
    with pytest.raises(
        Unavailable, match=r"^connectors\[0\]\.pins\.lock: BCM 13 cannot be claimed"
    ):
        RpiPile(one_connector(tmp_path), {1: Meter()}, lambda b, d: MockAdc(), MockFactory({LOCK}))
