"""The Raspberry Pi backend over a fake `RPi.GPIO` (tests/fakes: every call recorded, edge
callbacks fired from the library's own thread, misuse raising), a fake spidev playing the pilot,
and a temporary folder for /sys/class/pwm. Beneath the interlock, as the daemon will have it."""

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fakes"))  # before hal.rpi imports RPi.GPIO

import RPi.GPIO as GPIO  # noqa: E402, N814
import spidev  # noqa: E402

from hal.interfaces import Unavailable  # noqa: E402
from hal.interlock import Interlock  # noqa: E402
from hal.pilot import CpState, duty_for  # noqa: E402
from hal.rpi.pile import RpiPile  # noqa: E402
from hal.rpi.pins import RPiGPIOFactory  # noqa: E402
from pile_controller import config  # noqa: E402
from pile_controller.core import events as ev  # noqa: E402
from pile_controller.core.events import Reading  # noqa: E402
from pile_controller.service.hardware import rpi_board  # noqa: E402
from rig.board import (  # noqa: E402  config.rpi.toml's pins
    ESTOP,
    LOCK,
    LOCK_FEEDBACK,
    RELAY,
    RELAY_FEEDBACK,
    STOP,
    UNLOCK,
    pwm_folder,
)

ROOT = Path(__file__).resolve().parent.parent


class Meter:
    def read(self) -> Reading:
        return Reading(1000, 0.0)

    def close(self) -> None:
        pass


def pilot(channel: int, high_v: float, low_v: float) -> None:
    """The vehicle at connector `channel + 1` shows this pilot voltage (fake spidev, 0.0)."""
    spidev.set_pilot(0, 0, channel, high_v, low_v)


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[Interlock, RpiPile, Any, list[Any]]]:
    GPIO.reset()
    spidev.reset()
    pwm_folder(tmp_path, channels=2)
    settings = config.load(ROOT / "config.rpi.toml")
    hal = dataclasses.replace(settings.hal, pwm_root=tmp_path, lock_pulse_ms=20)
    settings = dataclasses.replace(settings, hal=hal)
    line = spidev.SpiDev()
    line.open(0, 0)
    GPIO.setmode(GPIO.BCM)  # so a test may drive inputs before the backend sets them up
    pile = RpiPile(
        rpi_board(settings), {1: Meter(), 2: Meter()}, lambda bus, device: line, RPiGPIOFactory()
    )
    heard: list[Any] = []
    interlock = Interlock(pile)
    yield interlock, pile, line, heard
    interlock.close()
    GPIO.reset()


def start(board: Any) -> None:
    interlock, _, _, heard = board
    interlock.attach(
        lambda e: heard.append((time.perf_counter(), threading.current_thread().name, e))
    )


def events(heard: list[Any]) -> list[ev.Event]:
    return [e for _, _, e in heard]


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 2
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.005)


def test_at_attach_every_input_is_reported_as_it_stands(board: Any) -> None:
    GPIO.drive(RELAY_FEEDBACK, GPIO.HIGH)  # booting with a contactor reading closed
    GPIO.settle()
    start(board)
    heard = events(board[3])
    assert ev.RelayFeedback(1, True) in heard and ev.RelayFeedback(2, False) in heard
    assert ev.LockFeedback(1, False) in heard


def test_the_relay_output_follows_the_interlocks_word(board: Any) -> None:
    interlock, pile, line, heard = board
    start(board)
    interlock.connectors[1].relay.close()  # no vehicle: refused
    assert GPIO.level(RELAY) == GPIO.LOW and interlock.refused
    pilot(0, 6.0, -12.0)  # a vehicle asking for power
    GPIO.drive(LOCK_FEEDBACK, GPIO.HIGH)
    GPIO.settle()
    wait_for(lambda: pile.rpi[1].cp is CpState.C, "the pilot reads C")
    interlock.connectors[1].relay.close()
    assert GPIO.level(RELAY) == GPIO.HIGH


def test_an_estop_edge_opens_the_relay_on_the_librarys_thread_before_the_core_hears(
    board: Any,
) -> None:
    interlock, pile, line, heard = board
    start(board)
    pilot(0, 6.0, -12.0)
    GPIO.drive(LOCK_FEEDBACK, GPIO.HIGH)
    GPIO.settle()
    wait_for(lambda: pile.rpi[1].cp is CpState.C, "the pilot reads C")
    interlock.connectors[1].relay.close()
    GPIO.drive(ESTOP, GPIO.LOW)  # the normally closed loop opens
    GPIO.settle()
    assert GPIO.level(RELAY) == GPIO.LOW
    opened = max(t for t, name, args in GPIO.calls if name == "output" and args == (RELAY, 0))
    told = [(t, thread) for t, thread, e in heard if e == ev.EmergencyStop(True)]
    assert told and told[0][0] > opened and told[0][1] == "fake-gpio-callbacks"


def test_the_lock_is_pulsed_never_both_coils_and_its_feedback_reported_after(
    board: Any,
) -> None:
    interlock, _, _, heard = board
    start(board)
    GPIO.drive(LOCK_FEEDBACK, GPIO.HIGH)
    interlock.connectors[1].lock.lock()
    assert (GPIO.level(LOCK), GPIO.level(UNLOCK)) == (GPIO.HIGH, GPIO.LOW)
    wait_for(lambda: GPIO.level(LOCK) == GPIO.LOW, "the pulse ends")
    wait_for(lambda: events(heard).count(ev.LockFeedback(1, True)) >= 2, "settled feedback")
    levels = {}
    for _, name, args in GPIO.calls:
        if name == "output" and args[0] in (LOCK, UNLOCK):
            levels[args[0]] = args[1]
            assert not (levels.get(LOCK) and levels.get(UNLOCK)), "both coils high"


def test_a_bouncing_stop_button_is_one_press(board: Any) -> None:
    _, _, _, heard = board
    start(board)
    for level in (GPIO.LOW, GPIO.HIGH, GPIO.LOW, GPIO.HIGH, GPIO.LOW):  # active low
        GPIO.drive(STOP, level)
    GPIO.settle()
    time.sleep(0.05)
    assert events(heard).count(ev.StopButton(1)) == 1


def test_lock_feedback_flapping_is_not_a_release(board: Any) -> None:
    _, _, _, heard = board
    GPIO.drive(LOCK_FEEDBACK, GPIO.HIGH)
    GPIO.settle()
    start(board)
    GPIO.drive(LOCK_FEEDBACK, GPIO.LOW)
    GPIO.drive(LOCK_FEEDBACK, GPIO.HIGH)  # back within the release's stable time
    GPIO.settle()
    time.sleep(0.05)
    assert ev.LockFeedback(1, False) not in events(heard)
    GPIO.drive(LOCK_FEEDBACK, GPIO.LOW)
    wait_for(lambda: ev.LockFeedback(1, False) in events(heard), "a real release")


def test_the_pilot_is_sampled_into_plug_states_and_the_diode(board: Any) -> None:
    _, pile, line, heard = board
    start(board)
    pilot(0, 9.0, 9.0)
    wait_for(lambda: ev.PlugIn(1) in events(heard), "plugged")
    assert ev.PilotState(1, CpState.B) in events(heard)
    pile.connectors[1].pilot.pwm_on(duty_for(16))
    pilot(0, 6.0, -1.0)  # asks for power, but no diode
    wait_for(lambda: ev.DiodeCheck(1, False) in events(heard), "the diode missing")
    pilot(0, 12.0, 12.0)
    wait_for(lambda: ev.Unplug(1) in events(heard), "unplugged")


def test_the_pilots_pwm_is_written_to_its_kernel_channel(board: Any, tmp_path: Path) -> None:
    _, pile, _, _ = board
    duty = tmp_path / "pwmchip0" / "pwm1" / "duty_cycle"
    assert duty.read_text() == "1000000\n"  # +12 V from the start
    pile.connectors[2].pilot.pwm_on(duty_for(10))
    assert duty.read_text() == "166666\n"


def test_the_fake_library_refuses_what_the_real_one_refuses() -> None:
    GPIO.reset()
    GPIO.setmode(GPIO.BCM)
    GPIO.setup(7, GPIO.IN)
    with pytest.raises(RuntimeError, match="OUTPUT"):
        GPIO.output(7, GPIO.HIGH)
    GPIO.reset()


def test_evdev_is_needed_only_by_a_configured_keypad_and_its_absence_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The backend's import needs no evdev (it once stopped every rpi pile without one).
    fakes = str(Path(__file__).parent / "fakes")
    code = f"import sys; sys.modules['evdev'] = None; sys.path.insert(0, {fakes!r}); "
    subprocess.run([sys.executable, "-c", code + "import hal.rpi.pile"], cwd=ROOT, check=True)
    monkeypatch.setitem(sys.modules, "evdev", None)  # as on a pile without python3-evdev
    monkeypatch.delitem(sys.modules, "hal.rpi.keypad", raising=False)
    pwm_folder(tmp_path, channels=2)
    settings = config.load(ROOT / "config.rpi.toml")
    settings = dataclasses.replace(
        settings, hal=dataclasses.replace(settings.hal, pwm_root=tmp_path)
    )
    without = tuple(dataclasses.replace(c, keypad=None) for c in settings.connectors)
    meters = {1: Meter(), 2: Meter()}

    def spi(_bus: int, _device: int) -> Any:
        return spidev.SpiDev()

    GPIO.reset()
    board = rpi_board(dataclasses.replace(settings, connectors=without))
    RpiPile(board, meters, spi, RPiGPIOFactory()).close()
    GPIO.reset()
    with pytest.raises(Unavailable) as refused:
        RpiPile(rpi_board(settings), meters, spi, RPiGPIOFactory())
    GPIO.reset()
    assert str(refused.value).startswith(
        "connectors[0].keypad.device: a keypad needs the evdev module: install "
        "pile-controller[rpi] on a Pi 1-4, pile-controller[rpi5] on a Pi 5 (import of evdev"
    )
