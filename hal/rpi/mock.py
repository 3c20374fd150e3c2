"""Pins in memory for the Raspberry Pi backend (after `gpiozero/pins/mock.py`), and an ADC for
its pilot. A test or a benchmark drives inputs (`drive_high`, `drive_low`), reads outputs
(`state`), wires an output to an input as the pile's wiring does (a contactor's mirror contact,
a lock's feedback), and finds every level each pin took with its `time.perf_counter()` in
`history`. Edge callbacks run on a thread of the factory's own, as RPi.GPIO runs them;
`settle()` waits for them."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable


class MockPin:
    def __init__(self, factory: MockFactory, number: int, level: bool):
        self.factory, self.number = factory, number
        self.state = level
        self.history: list[tuple[float, bool]] = [(time.perf_counter(), level)]
        self.output = False
        self.claimed = False
        self._callback: Callable[[], None] | None = None

    def read(self) -> bool:
        return self.state

    def write(self, high: bool) -> None:
        if not self.output:
            raise RuntimeError(f"BCM {self.number} is not an output")
        self._set(high)
        if wire := self.factory.wires.get((self.number, high)):
            self.factory.pin(wire[0])._set(wire[1])

    def when_changed(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    def close(self) -> None:
        self._callback = None
        self.claimed = False

    def drive_high(self) -> None:
        self._set(True)

    def drive_low(self) -> None:
        self._set(False)

    def _set(self, level: bool) -> None:
        with self.factory.lock:
            changed = level != self.state
            self.state = level
            self.history.append((time.perf_counter(), level))
        if changed and self._callback is not None and not self.output:
            self.factory.edges.put(self._callback)


class MockFactory:
    def __init__(self, busy: frozenset[int] = frozenset()):
        """`busy`: pins something else has claimed already."""
        self.busy = set(busy)
        self.pins: dict[int, MockPin] = {}
        self.lock = threading.Lock()
        self.edges: queue.Queue[Callable[[], None]] = queue.Queue()
        # (output, its level) -> (input, the level it drives)
        self.wires: dict[tuple[int, bool], tuple[int, bool]] = {}
        threading.Thread(target=self._dispatch, name="mock-gpio-edges", daemon=True).start()

    def output(self, number: int, high: bool) -> MockPin:
        pin = self._claim(number)
        pin.output = True
        pin.write(high)
        return pin

    def input(self, number: int, pull_up: bool) -> MockPin:
        pin = self._claim(number)
        if len(pin.history) == 1:  # not driven before it was claimed: the pull decides
            pin.state = pull_up
        return pin

    def pin(self, number: int) -> MockPin:
        """Pin `number`, claimed or not (a test drives an input before the backend claims it)."""
        if number not in self.pins:
            self.pins[number] = MockPin(self, number, False)
        return self.pins[number]

    def wire(self, out: int, when: bool, to: int, level: bool) -> None:
        """From now on output `out` going to `when` drives input `to` to `level`."""
        self.wires[(out, when)] = (to, level)

    def unwire(self, out: int, when: bool) -> None:
        self.wires.pop((out, when), None)

    def settle(self) -> None:
        """Waits until every edge so far has had its callback run."""
        self.edges.join()

    def _claim(self, number: int) -> MockPin:
        if number in self.busy:
            raise RuntimeError("GPIO busy")
        pin = self.pin(number)
        if pin.claimed:
            raise RuntimeError(f"BCM {number} is claimed already")
        pin.claimed = True
        return pin

    def _dispatch(self) -> None:
        while True:
            callback = self.edges.get()
            try:
                callback()
            finally:
                self.edges.task_done()


class MockAdc:
    """An MCP3008 on SPI whose every channel reads a vehicle asking for power (+6 V high,
    -12 V low), as fast as the sampler asks: no lock or lookup to count as the sampler's."""

    def __init__(self) -> None:
        self.n = 0

    def xfer2(self, data: list[int]) -> list[int]:
        self.n += 1
        count = 717 if self.n % 2 else 102  # +6 V, -12 V
        return [0, count >> 8, count & 0xFF]
