"""A technician's tests of a connector's relay and lock against their feedback (CONTRACT 9.4):
each moves the device past the core, through the interlock's test path (hal/interlock.py), and
times its feedback. They block until the feedback comes or its deadline passes: run them on a
worker thread, never on the event loop. A failed check latches nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hal.interlock import Interlock


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    figures: dict[str, float] = field(default_factory=dict)  # the feedback times, in ms


def since_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def relay_trial(interlock: Interlock, cid: int, timeout_ms: int) -> Check:
    """Closes and opens the relay of `cid` once; how long its mirror contact took each way."""
    name = f"relay {cid}"
    if interlock.conditions[cid].relay_closed:
        return Check(name, False, "the contactor reads closed before the test: welded?")
    interlock.begin_test(cid)
    closed_ms: float | None = None
    try:
        start = time.perf_counter()
        if (why := interlock.test_close(cid)) is not None:
            return Check(name, False, f"not closed: {why}")
        if interlock.wait_until(lambda c: c.relay_closed, cid, timeout_ms / 1000):
            closed_ms = since_ms(start)
    finally:
        start = time.perf_counter()
        interrupted = interlock.end_test(cid)  # opens it
    if interrupted is not None:
        return Check(name, False, f"interrupted: {interrupted}")
    opened = interlock.wait_until(lambda c: not c.relay_closed, cid, timeout_ms / 1000)
    if not opened:
        return Check(name, False, f"the feedback still shows closed {timeout_ms} ms after opening")
    if closed_ms is None:
        return Check(name, False, f"the feedback did not show closed within {timeout_ms} ms")
    opened_ms = since_ms(start)
    return Check(
        name,
        True,
        f"closed in {closed_ms:g} ms, opened in {opened_ms:g} ms",
        {"closed_ms": closed_ms, "opened_ms": opened_ms},
    )


def lock_trial(interlock: Interlock, cid: int, timeout_ms: int) -> Check:
    """Locks and releases the cable lock of `cid` once; how long its feedback took each way.
    The lock is always left released, as the core holds it with no session."""
    name = f"lock {cid}"
    if interlock.conditions[cid].relay_closed:
        return Check(name, False, "not moved: the contactor reads closed")
    lock = interlock.connectors[cid].lock
    interlock.begin_test(cid)
    try:
        start = time.perf_counter()
        lock.lock()
        locked = interlock.wait_until(lambda c: c.locked, cid, timeout_ms / 1000)
        locked_ms = since_ms(start)
        start = time.perf_counter()
        lock.unlock()
        released = interlock.wait_until(lambda c: not c.locked, cid, timeout_ms / 1000)
        released_ms = since_ms(start)
    finally:
        interrupted = interlock.end_test(cid)
    if interrupted is not None:
        return Check(name, False, f"interrupted: {interrupted}")
    if not locked:
        return Check(name, False, f"the feedback did not show locked within {timeout_ms} ms")
    if not released:
        return Check(name, False, f"the feedback still shows locked {timeout_ms} ms after release")
    return Check(
        name,
        True,
        f"locked in {locked_ms:g} ms, released in {released_ms:g} ms",
        {"locked_ms": locked_ms, "released_ms": released_ms},
    )
