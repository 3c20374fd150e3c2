"""Slow work of a fleet's (an upload, a download, an install) on a thread the daemon's exit
does not wait for."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def on_a_daemon_thread(work: Callable[[], T], name: str) -> T:
    """`work` on a thread of its own that the daemon's exit does not wait for: an upload to a
    server that stalls (three tries of 30 s) must not hold a stop, a reset or an update's
    restart, as `asyncio.to_thread` would (the loop's executor is joined at exit)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():
            return  # the waiting coroutine was cancelled (the daemon stopping)
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result, error = None, None
        try:
            result = work()
        except BaseException as exc:  # handed to the waiting coroutine, raised there
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done
