"""The tests' virtual time (rig/virtual_time.py, after trio's MockClock): a loop with nothing
to do jumps to its next timer, timers keep their order, and what a thread reports comes before
a jump, not after it."""

import asyncio
import threading
import time

from rig import virtual_time


def test_an_hour_of_timers_passes_at_once_in_order() -> None:
    async def scenario() -> tuple[list[str], float, float]:
        loop = asyncio.get_running_loop()
        fired: list[str] = []
        started, wall = loop.time(), time.monotonic()
        await asyncio.gather(later(3600, "hour", fired), later(60, "minute", fired))
        return fired, loop.time() - started, time.monotonic() - wall

    fired, virtual, real = virtual_time.run(scenario())
    assert fired == ["minute", "hour"]
    assert 3600 <= virtual < 3601 and real < 1.0


async def later(seconds: float, name: str, fired: list[str]) -> None:
    await asyncio.sleep(seconds)
    fired.append(name)


def test_a_thread_that_answers_at_once_answers_before_the_jump() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        timer = asyncio.create_task(asyncio.sleep(600))
        answer = await loop.run_in_executor(None, lambda: threading.Event().wait(0.0005))
        assert answer is False
        elapsed = loop.time() - started
        timer.cancel()
        return elapsed

    assert virtual_time.run(scenario()) < 1.0  # the 10 minutes did not pass meanwhile
