"""An asyncio loop whose clock a test owns (after trio's `MockClock(autojump_threshold=...)`):
whenever the loop has nothing to do for `AUTOJUMP_S` of real time, its clock jumps to the next
timer, so the daemon's ticks, polls, backoffs and deadlines pass in microseconds and a test of
a timer never waits for it on the wall clock.

The jump waits that short real while first because the daemon's devices and journal answer from
threads (a meter read, a flush): what they report in that time still comes before the jump.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
AUTOJUMP_S = 0.002


class Jumping(selectors.DefaultSelector):
    """The loop's selector: a wait that would block past `AUTOJUMP_S` jumps the clock."""

    def __init__(self, loop: VirtualTimeLoop):
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= AUTOJUMP_S:
            return super().select(timeout)
        ready = super().select(AUTOJUMP_S)
        if not ready:
            self.loop.jumped += timeout - AUTOJUMP_S  # to the next timer
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.jumped = 0.0  # seconds the clock jumped ahead of the real one
        super().__init__(Jumping(self))

    def time(self) -> float:
        return time.monotonic() + self.jumped

    def wall_time(self) -> float:
        """The wall clock as this loop's time has it (the daemon's ClockWatch reads it)."""
        return time.time() + self.jumped


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on a loop with virtual time."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)
