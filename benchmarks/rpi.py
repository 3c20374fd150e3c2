"""The Raspberry Pi backend over pins in memory (hal/rpi/mock.py), as far as it can be measured
without a board:

- e-stop edge fired from the pin factory's callback thread -> relay output low, through the
  interlock, over 10,000 trials (the mock's dispatch costs what RPi.GPIO's own thread would);
- the pilot sampler's cost: per cent of one core for one and for two connectors, with a fake
  spidev (a Python call per sample, where the real one is an ioctl: an upper bound).

`python -m benchmarks.rpi [--trials 10000]`
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from benchmarks.run import percentile
from hal.events import Reading
from hal.interlock import Interlock
from hal.rpi import gpio
from hal.rpi import pile as rpi_pile
from hal.rpi.mock import MockAdc, MockFactory
from pile_controller import config
from pile_controller.service.hardware import rpi_board
from rig.board import ESTOP, LOCK_FEEDBACK, RELAY, pwm_folder

ROOT = Path(__file__).resolve().parent.parent


class Meter:
    def read(self) -> Reading:
        return Reading(0, 0.0)

    def close(self) -> None:
        pass


def board(workdir: Path, connectors: int, pins: MockFactory) -> rpi_pile.RpiPile:
    pwm_folder(workdir, connectors)
    settings = config.load(ROOT / "config.rpi.toml")
    settings = dataclasses.replace(
        settings,
        hal=dataclasses.replace(settings.hal, pwm_root=workdir),
        # no keypad: it is not what is measured (and evdev needs a Linux input device)
        connectors=tuple(
            dataclasses.replace(c, keypad=None) for c in settings.connectors[:connectors]
        ),
    )
    meters = {c.id: Meter() for c in settings.connectors}
    board = rpi_board(settings)
    return rpi_pile.RpiPile(board, meters, lambda bus, device: MockAdc(), pins)  # type: ignore[arg-type]


def estop_trials(workdir: Path, trials: int) -> list[float]:
    gpio.RELEASE_STABLE_S = 0.0005  # the release is not what is measured
    pins = MockFactory()
    pile = board(workdir, 1, pins)
    interlock = Interlock(pile)
    interlock.attach(lambda _: None)
    relay, estop = pins.pin(RELAY), pins.pin(ESTOP)
    pins.pin(LOCK_FEEDBACK).drive_high()
    estop.drive_high()  # the loop closed
    pins.settle()
    time.sleep(0.1)  # the sampler sees C
    times = []
    for _ in range(trials):
        interlock.connectors[1].relay.close()
        assert relay.state
        seen = len(relay.history)
        fired = time.perf_counter()
        estop.drive_low()
        pins.settle()
        opened = next(t for t, high in relay.history[seen:] if not high)
        times.append((opened - fired) * 1e3)
        estop.drive_high()
        pins.settle()
        while interlock.estop:  # the release counts once stable
            time.sleep(0.0005)
    interlock.close()
    return times


def sampling_cost(workdir: Path, connectors: int, seconds: float = 5.0) -> float:
    pile = board(workdir / f"s{connectors}", connectors, MockFactory())
    pile.attach(lambda _: None)
    # The sampler runs on a thread of its own: the process's CPU time, idle otherwise.
    before_cpu, before = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    used = (time.process_time() - before_cpu) / (time.perf_counter() - before)
    pile.close()
    return used * 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    trials = parser.parse_args().trials
    with tempfile.TemporaryDirectory() as tmp:
        times = estop_trials(Path(tmp) / "e", trials)
        one, two = sampling_cost(Path(tmp), 1), sampling_cost(Path(tmp), 2)
    print(f"rpi: e-stop edge -> relay output low, {len(times)} trials (ms, mock pins)")
    print(
        f"  p50 {percentile(times, 50):.4f}  p99 {percentile(times, 99):.4f}"
        f"  max {max(times):.4f}  (target p99 <= 1 ms)"
    )
    print(f"rpi: pilot sampling (50 bursts of 64 a second each): {one:.1f} % of a core for one")
    print(f"     connector, {two:.1f} % for two (fake spidev: an upper bound)")


if __name__ == "__main__":
    main()
