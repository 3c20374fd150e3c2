"""A stand-in for the `RPi.GPIO` module on a machine with no GPIO (tests only): the same calls,
recorded with a timestamp; misuse raises as the real library does; edge callbacks are fired
from a thread of the library's own, as RPi.GPIO (and rpi-lgpio) run them.

A test drives an input with `drive(pin, level)` and reads the outputs with `level(pin)` and
`calls`; `wire(out, when, pin, level)` has an output drive an input as the pile's wiring does
(a contactor's mirror contact, a lock's feedback); `busy` holds pins claimed by something else.
With $FAKE_BOARD set, tests/fakes/fakeboard.py lets a test in another process do all this."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

BCM, BOARD = 11, 10
OUT, IN = 0, 1
HIGH, LOW = 1, 0
PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
RISING, FALLING, BOTH = 31, 32, 33

calls: list[tuple[float, str, tuple[Any, ...]]] = []
_mode: int | None = None
_pins: dict[int, int] = {}  # pin -> OUT or IN
_levels: dict[int, int] = {}
_callbacks: dict[int, tuple[int, Callable[[int], None]]] = {}
_edges: queue.Queue[tuple[int, int]] = queue.Queue()
_lock = threading.Lock()
_wires: list[tuple[int, int, int, int]] = []  # (output, its level, input, the level it drives)
busy: set[int] = set()


def _record(name: str, *args: Any) -> None:
    calls.append((time.perf_counter(), name, args))


def setmode(mode: int) -> None:
    global _mode
    _record("setmode", mode)
    _mode = mode


def setwarnings(flag: bool) -> None:
    _record("setwarnings", flag)


def setup(pin: int, direction: int, pull_up_down: int = PUD_OFF, initial: int = -1) -> None:
    if _mode is None:
        raise RuntimeError(
            "Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)"
        )
    if pin in busy:
        raise RuntimeError("GPIO busy")
    _record("setup", pin, direction, pull_up_down, initial)
    with _lock:
        _pins[pin] = direction
        if direction == OUT:
            _levels[pin] = initial if initial in (HIGH, LOW) else LOW
        else:
            _levels.setdefault(pin, HIGH if pull_up_down == PUD_UP else LOW)


def output(pin: int, value: int) -> None:
    if _pins.get(pin) != OUT:
        raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
    _record("output", pin, value)
    value = HIGH if value else LOW
    with _lock:
        _levels[pin] = value
        driven = [(p, v) for out, when, p, v in _wires if (out, when) == (pin, value)]
    for p, v in driven:
        drive(p, v)


def input(pin: int) -> int:  # noqa: A001 - the library's own name
    if pin not in _pins:
        raise RuntimeError("You must setup() the GPIO channel first")
    return _levels[pin]


def add_event_detect(
    pin: int, edge: int, callback: Callable[[int], None] | None = None, bouncetime: int = 0
) -> None:
    if _pins.get(pin) != IN:
        raise RuntimeError("You must setup() the GPIO channel as an input first")
    if pin in _callbacks:
        raise RuntimeError("Conflicting edge detection already enabled for this GPIO channel")
    _record("add_event_detect", pin, edge, bouncetime)
    if callback is not None:
        _callbacks[pin] = (edge, callback)


def remove_event_detect(pin: int) -> None:
    _record("remove_event_detect", pin)
    _callbacks.pop(pin, None)


def cleanup(pins: Any = None) -> None:
    _record("cleanup", pins)
    reset()


# --- what a test does ---------------------------------------------------------------------


def reset() -> None:
    global _mode
    _mode = None
    with _lock:
        _pins.clear()
        _levels.clear()
        _callbacks.clear()
        _wires.clear()
    busy.clear()


def wire(out: int, when: int, pin: int, value: int) -> None:
    """From now on `out` going to `when` drives input `pin` to `value`."""
    with _lock:
        _wires.append((out, when, pin, value))


def unwire(out: int, when: int) -> None:
    with _lock:
        _wires[:] = [w for w in _wires if w[:2] != (out, when)]


def level(pin: int) -> int:
    return _levels.get(pin, LOW)


def drive(pin: int, value: int) -> None:
    """The outside world sets an input; its callback runs on the library's thread."""
    with _lock:
        before = _levels.get(pin, LOW)
        _levels[pin] = value
    if before != value:
        _edges.put((pin, value))


def settle(timeout: float = 2.0) -> None:
    """Waits until every edge driven so far has had its callback run."""
    _edges.join()


def _dispatch() -> None:
    while True:
        pin, value = _edges.get()
        try:
            wanted = _callbacks.get(pin)
            if wanted is not None:
                edge, callback = wanted
                if edge == BOTH or (edge == RISING) == bool(value):
                    callback(pin)
        finally:
            _edges.task_done()


threading.Thread(target=_dispatch, name="fake-gpio-callbacks", daemon=True).start()

if os.environ.get("FAKE_BOARD"):
    import fakeboard

    fakeboard.serve(os.environ["FAKE_BOARD"])
