"""The pile's pins on a Raspberry Pi, from a pin factory (`pins.py`: RPi.GPIO's module on a
board, pins in memory in tests), BCM numbering, `active_low` where configured.

The libraries run edge callbacks on a thread of their own, and read `bouncetime` differently
(RPi.GPIO: ignore edges for N ms after one; rpi-lgpio: report only once stable for N ms), so
debouncing is done here, the same on all: an input becoming active counts at once (an e-stop
must not wait), its release only once it has stayed released for `RELEASE_STABLE_S`. Callbacks
report through the sink they are given, on the factory's thread; the interlock's openings
happen right there (hal/interlock.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from hal.interfaces import Unavailable
from hal.rpi.pins import PinFactory
from hal.rpi.wiring import Pin

RELEASE_STABLE_S = 0.02
T = TypeVar("T")


def claim(key: str, pin: Pin, setup: Callable[[], T]) -> T:
    """A pin that cannot be claimed (busy, or not a GPIO here) is one line naming its key.
    RPi.GPIO raises RuntimeError, rpi-lgpio its own lgpio.error ('GPIO busy'): any of them
    at claiming is the pin's trouble."""
    try:
        return setup()
    except Exception as exc:
        raise Unavailable(f"{key}: BCM {pin.pin} cannot be claimed: {exc}") from None


class Output:
    def __init__(self, pins: PinFactory, pin: Pin, key: str):
        self.pin = pin
        self.gpio = claim(key, pin, lambda: pins.output(pin.pin, high=pin.active_low))

    def set(self, active: bool) -> None:
        self.gpio.write(active != self.pin.active_low)


class Input:
    """A debounced input: `on_change(active)` on the library's thread (a release from a timer's)."""

    def __init__(self, pins: PinFactory, pin: Pin, on_change: Callable[[bool], None], key: str):
        self.pin, self.on_change = pin, on_change
        # Pulled to inactive: an input whose wire is cut reads inactive.
        self.gpio = claim(key, pin, lambda: pins.input(pin.pin, pull_up=pin.active_low))
        self.active = self.read()
        self._release: threading.Timer | None = None
        self._lock = threading.Lock()
        claim(key, pin, lambda: self.gpio.when_changed(self._edge))

    def read(self) -> bool:
        return self.gpio.read() != self.pin.active_low

    def _edge(self) -> None:
        with self._lock:
            now = self.read()
            if now:
                if self._release is not None:
                    self._release.cancel()  # a bounce, not a release
                    self._release = None
                if self.active:
                    return
                self.active = True
            else:
                if self.active and self._release is None:
                    self._release = threading.Timer(RELEASE_STABLE_S, self._released)
                    self._release.daemon = True
                    self._release.start()
                return
        self.on_change(True)

    def _released(self) -> None:
        with self._lock:
            self._release = None
            if self.read() or not self.active:
                return
            self.active = False
        self.on_change(False)

    def close(self) -> None:
        self.gpio.close()
        if self._release is not None:
            self._release.cancel()


class PulsedLock:
    """A cable lock actuator: with `unlock`, two coils pulsed for `pulse_s` (never both high);
    without, one output held (high = locked). `settled()` is called once the move is done."""

    def __init__(
        self, lock: Output, unlock: Output | None, pulse_s: float, settled: Callable[[], None]
    ):
        self.lock_out, self.unlock_out, self.pulse_s = lock, unlock, pulse_s
        self.settled = settled
        self._timer: threading.Timer | None = None
        self._guard = threading.Lock()

    def lock(self) -> None:
        self._move(True)

    def unlock(self) -> None:
        self._move(False)

    def _move(self, locked: bool) -> None:
        with self._guard:
            if self._timer is not None:
                self._timer.cancel()
            if self.unlock_out is None:
                self.lock_out.set(locked)
            else:
                (self.unlock_out if locked else self.lock_out).set(False)  # never both high
                (self.lock_out if locked else self.unlock_out).set(True)
            self._timer = threading.Timer(self.pulse_s, self._done)
            self._timer.daemon = True
            self._timer.start()

    def _done(self) -> None:
        with self._guard:
            self._timer = None
            if self.unlock_out is not None:
                self.lock_out.set(False)
                self.unlock_out.set(False)
        self.settled()
