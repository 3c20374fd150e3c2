"""A technician's commands on the running pile (CONTRACT 9.4): `relay-test N` and `selftest`.

The core holds a connector under test (no session begins on it, and its feedback is nobody's
fault meanwhile), the interlock lets its relay close with no vehicle only while the pilot reads
A, and the trials (hal/trials.py) run on a worker thread: the loop, the meters and the backend
go on meanwhile. A refused test is a RequestError with the core's reason; a failed check latches
no fault (a contactor the test left reading closed is then found by the ordinary supervision,
as any welded contactor is).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime

from hal.interlock import Interlock
from hal.trials import Check, lock_trial, relay_trial
from pile_controller import config, policy
from pile_controller.backend.link import Link
from pile_controller.control import RequestError
from pile_controller.core import commands as cmd
from pile_controller.core.effects import Effect
from pile_controller.core.pile import Pile
from pile_controller.core.pilot import MEANING, CpState
from pile_controller.display import Display, NoDisplay


class Technician:
    def __init__(
        self,
        settings: config.Settings,
        pile: Pile,
        interlock: Interlock,
        link: Link,
        display: Display | NoDisplay,
        now: Callable[[], datetime],
        apply: Callable[[list[Effect]], None],
    ):
        self.settings, self.pile, self.interlock = settings, pile, interlock
        self.link, self.display, self.now, self.apply = link, display, now, apply

    async def relay_test(self, cid: int) -> Check:
        reply = self.pile.begin_test(cid, self.now())
        if reply != cmd.ACCEPTED:
            raise RequestError(f"relay test refused: {reply.reason}")
        try:
            return await asyncio.to_thread(
                relay_trial, self.interlock, cid, self.settings.hal.relay_feedback_ms
            )
        finally:
            self.apply(self.pile.end_test(cid, self.now()))

    async def selftest(self) -> list[Check]:
        checks: list[Check] = []
        for cid in self.pile.connectors:
            checks += await self._connector(cid)
        return [*checks, self._broker(), self._display(), self._disk()]

    async def _connector(self, cid: int) -> list[Check]:
        checks = [self._pilot(cid), self._meter(cid)]
        reply = self.pile.begin_test(cid, self.now())
        if reply != cmd.ACCEPTED:
            # A vehicle or a session is no failure, only a reason not to move its devices.
            ok = not str(reply.reason).startswith("fault")
            why = f"skipped: {reply.reason}" if ok else str(reply.reason)
            return [Check(f"relay {cid}", ok, why), Check(f"lock {cid}", ok, why), *checks]
        hal = self.settings.hal
        try:
            relay = await asyncio.to_thread(relay_trial, self.interlock, cid, hal.relay_feedback_ms)
            lock = await asyncio.to_thread(lock_trial, self.interlock, cid, hal.lock_feedback_ms)
        finally:
            self.apply(self.pile.end_test(cid, self.now()))
        return [relay, lock, *checks]

    def _pilot(self, cid: int) -> Check:
        c, name = self.pile.connectors[cid], f"pilot {cid}"
        if c.cp is CpState.A:
            return Check(name, True, "+12 V (state A)")
        if c.cp in (CpState.B, CpState.C, CpState.D):
            return Check(name, True, f"skipped: a vehicle is connected (state {c.cp})")
        return Check(name, False, f"state {c.cp}: {MEANING[c.cp]}")

    def _meter(self, cid: int) -> Check:
        c, name = self.pile.connectors[cid], f"meter {cid}"
        reading = c.reading
        now = self.now()
        if reading is None or not c.meter_is_fresh(now):
            return Check(name, False, f"no valid reading: {c.meter_problem}")
        age = (now - reading.at).total_seconds() if reading.at else 0.0
        return Check(name, True, f"{reading.energy_register_wh} Wh, read {age:.1f} s ago")

    def _broker(self) -> Check:
        where = f"{self.settings.backend.host}:{self.settings.backend.port}"
        if self.link.connected:
            return Check("broker", True, f"connected to {where}")
        problem = f": {self.link.problem}" if self.link.problem else ""
        return Check("broker", False, f"not connected to {where}{problem}")

    def _display(self) -> Check:
        if isinstance(self.display, NoDisplay):
            return Check("display", True, "none configured")
        if self.display.problems:
            return Check("display", False, "; ".join(self.display.problems.values()))
        width, height = self.display.panel.size
        return Check("display", True, f"{self.settings.display.driver}, {width}x{height}")

    def _disk(self) -> Check:
        state = self.settings.pile.state_dir
        try:
            free = shutil.disk_usage(state).free
        except OSError as exc:
            return Check("disk", False, f"{state}: {exc.strerror or exc}")
        mb, least = free // 2**20, policy.MIN_FREE_BYTES // 2**20
        if free < policy.MIN_FREE_BYTES:
            return Check("disk", False, f"{mb} MB free in {state}, under {least} MB")
        return Check("disk", True, f"{mb} MB free in {state}")
