"""The pile's pins on a Raspberry Pi through the `RPi.GPIO` API (the RPi.GPIO package on a Pi
1-4, rpi-lgpio's drop-in module on a Pi 5), BCM numbering, `active_low` where configured.

Both libraries run edge callbacks on a thread of their own, and they read `bouncetime`
differently (RPi.GPIO: ignore edges for N ms after one; rpi-lgpio: report only once stable for
N ms), so no `bouncetime` is given and debouncing is done here, the same on both: an input
becoming active counts at once (an e-stop must not wait), its release only once it has stayed
released for `RELEASE_STABLE_S`. Callbacks report through the sink they are given, on the
library's thread; the interlock's openings happen right there (hal/interlock.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import RPi.GPIO as GPIO  # noqa: N814 - the library's own name for itself

from hal.interfaces import Unavailable
from hal.rpi.wiring import Pin

RELEASE_STABLE_S = 0.02


def claim(key: str, pin: Pin, setup: Callable[[], None]) -> None:
    """A pin that cannot be claimed (busy, or not a GPIO here) is one line naming its key.
    RPi.GPIO raises RuntimeError, rpi-lgpio its own lgpio.error ('GPIO busy'): any of them
    at claiming is the pin's trouble."""
    try:
        setup()
    except Exception as exc:
        raise Unavailable(f"{key}: BCM {pin.pin} cannot be claimed: {exc}") from None


def start() -> None:
    GPIO.setwarnings(False)
    GPIO.setmode(GPIO.BCM)


class Output:
    def __init__(self, pin: Pin, key: str):
        self.pin = pin
        claim(key, pin, lambda: GPIO.setup(pin.pin, GPIO.OUT, initial=self._level(False)))

    def set(self, active: bool) -> None:
        GPIO.output(self.pin.pin, self._level(active))

    def _level(self, active: bool) -> int:
        return GPIO.HIGH if active != self.pin.active_low else GPIO.LOW


class Input:
    """A debounced input: `on_change(active)` on the library's thread (a release from a timer's)."""

    def __init__(self, pin: Pin, on_change: Callable[[bool], None], key: str):
        self.pin, self.on_change = pin, on_change
        pull = GPIO.PUD_UP if pin.active_low else GPIO.PUD_DOWN  # inactive when unwired
        claim(key, pin, lambda: GPIO.setup(pin.pin, GPIO.IN, pull_up_down=pull))
        self.active = self.read()
        self._release: threading.Timer | None = None
        self._lock = threading.Lock()
        claim(key, pin, lambda: GPIO.add_event_detect(pin.pin, GPIO.BOTH, callback=self._edge))

    def read(self) -> bool:
        return (GPIO.input(self.pin.pin) == GPIO.HIGH) != self.pin.active_low

    def _edge(self, _channel: int) -> None:
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
        GPIO.remove_event_detect(self.pin.pin)
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
