"""Puts the journal on disk off the event loop, then runs what waited for it, in order.

Write ahead, then act (ARCHITECTURE principle 5): the relay, the lock, the events and the
statuses that follow a commit wait until that commit is on disk. The disk's flush is the slowest
step a command has (0.3 ms here; tens to hundreds of ms at worst on an SD card), so it runs on a
thread of its own while the loop goes on reading the next command; commits made meanwhile share the
next flush (group commit). Actions run in the order they were queued, so an `OpenRelay` can never
overtake the `CloseRelay` before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pile_controller.journal.store import Store

Action = Callable[[], None]


class Flusher:
    def __init__(self, store: Store, on_failure: Callable[[BaseException], None]):
        self.store = store
        self._on_failure = on_failure  # the disk refused: what waited is not carried out
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="journal-flush")
        self._waiting: list[Action] = []
        self._dirty = False  # something in `_waiting` depends on a commit not yet on disk
        self._running: asyncio.Future[None] | None = None

    def then(self, action: Action, dirty: bool) -> None:
        """Runs `action` once every commit made so far is on disk (`dirty`: the caller has just
        committed), or at once if it depends on no commit and nothing is on its way to disk."""
        if self._running is None and not dirty:
            action()
            return
        self._waiting.append(action)
        self._dirty |= dirty
        if self._running is None:
            self._flush()

    async def drain(self) -> None:
        """Returns once nothing is waiting (at shutdown, before the journal closes)."""
        while self._running is not None:
            await asyncio.wait([self._running])  # its failure is reported, not raised here

    def _flush(self) -> None:
        batch, self._waiting, self._dirty = self._waiting, [], False
        self._running = asyncio.get_running_loop().run_in_executor(self._pool, self.store.sync)
        self._running.add_done_callback(lambda done: self._flushed(done, batch))

    def _flushed(self, done: asyncio.Future[None], batch: list[Action]) -> None:
        self._running = None
        if (error := done.exception()) is not None:
            self._on_failure(error)
        else:
            for action in batch:
                action()
        if self._dirty:  # committed while this flush ran: the next one takes them all
            self._flush()
        else:  # only actions that were queued behind this flush to keep their order
            rest, self._waiting = self._waiting, []
            for action in rest:
                action()
