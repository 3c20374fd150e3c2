"""Where the Raspberry Pi backend gets its pins (after gpiozero's pin factories,
`gpiozero/pins/__init__.py`): a `PinFactory` claims a pin as an output or an input and hands back
a `GpioPin` that reads and writes electrical levels and calls back on its edges. The backend
(`gpio.py`: active-low, debouncing, pulsed locks) is written once against this; which library
moves the pins is the factory's business.

- `RPiGPIOFactory`: the `RPi.GPIO` API (the RPi.GPIO package on a Pi 1-4, rpi-lgpio's drop-in
  module on a Pi 5), BCM numbering. Both run edge callbacks on a thread of their own.
- `hal.rpi.mock.MockFactory`: pins in memory, driven by a test or a benchmark, every level
  recorded with its time (after `gpiozero/pins/mock.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class GpioPin(Protocol):
    def read(self) -> bool:
        """The electrical level: True is high."""
        ...

    def write(self, high: bool) -> None: ...

    def when_changed(self, callback: Callable[[], None]) -> None:
        """Calls `callback` on every edge, on the factory's own thread."""
        ...

    def close(self) -> None: ...


class PinFactory(Protocol):
    def output(self, number: int, high: bool) -> GpioPin:
        """Claims BCM pin `number` as an output, at `high` from the start. Raises if the pin
        cannot be had (busy, not a GPIO): the caller names its key."""
        ...

    def input(self, number: int, pull_up: bool) -> GpioPin:
        """Claims BCM pin `number` as an input with a pull-up (else a pull-down)."""
        ...


class RPiGPIOFactory:
    """RPi.GPIO's module, imported here (only the rpi driver needs it): ImportError if absent,
    RuntimeError on a board it does not know."""

    def __init__(self) -> None:
        import RPi.GPIO as GPIO  # noqa: N814 - the library's own name for itself

        self.gpio: Any = GPIO
        GPIO.setwarnings(False)
        GPIO.setmode(GPIO.BCM)

    def output(self, number: int, high: bool) -> GpioPin:
        g = self.gpio
        g.setup(number, g.OUT, initial=g.HIGH if high else g.LOW)
        return LibraryPin(g, number)

    def input(self, number: int, pull_up: bool) -> GpioPin:
        g = self.gpio
        g.setup(number, g.IN, pull_up_down=g.PUD_UP if pull_up else g.PUD_DOWN)
        return LibraryPin(g, number)


class LibraryPin:
    def __init__(self, gpio: Any, number: int):
        self.gpio, self.number = gpio, number
        self._watched = False

    def read(self) -> bool:
        return bool(self.gpio.input(self.number) == self.gpio.HIGH)

    def write(self, high: bool) -> None:
        self.gpio.output(self.number, self.gpio.HIGH if high else self.gpio.LOW)

    def when_changed(self, callback: Callable[[], None]) -> None:
        # No bouncetime: RPi.GPIO and rpi-lgpio read it differently (gpio.py debounces).
        self.gpio.add_event_detect(self.number, self.gpio.BOTH, callback=lambda _: callback())
        self._watched = True

    def close(self) -> None:
        if self._watched:
            self.gpio.remove_event_detect(self.number)
            self._watched = False
