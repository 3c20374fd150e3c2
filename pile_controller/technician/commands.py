"""A technician's commands on the running pile, as the control socket hands them over
(CONTRACT §8, 9.4): `status`, `fault clear N`, `sim ...`, `relay-test N` and `selftest`.

The core holds a connector under test (no session begins on it, and its feedback is nobody's
fault meanwhile), the interlock lets its relay close with no vehicle only while the pilot reads
A, and the trials (hal/trials.py) run on a worker thread: the loop, the meters and the backend
go on meanwhile. A refused test is a RequestError with the core's reason; a failed check latches
no fault (a contactor the test left reading closed is then found by the ordinary supervision,
as any welded contactor is).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hal.interfaces import Simulated
from hal.interlock import Interlock
from hal.pilot import MEANING, CpState
from hal.trials import Check, lock_trial, relay_trial
from pile_controller import config
from pile_controller.backend.link import Link
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core.effects import Effect
from pile_controller.core.pile import Pile
from pile_controller.screen.display import Display, NoDisplay
from pile_controller.service import policy
from pile_controller.technician.control import RequestError, status_report

log = logging.getLogger("pile_controller")


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
        outbox_depth: Callable[[], int],
        last_events: Callable[[], list[str]] = list,
    ):
        self.settings, self.pile, self.interlock = settings, pile, interlock
        self.link, self.display, self.now, self.apply = link, display, now, apply
        self.outbox_depth = outbox_depth
        self.last_events = last_events  # the journal's newest events, for diagnostics

    def request(self, request: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """One control socket request; RequestError with the line to show if it cannot be."""
        match request.get("cmd"):
            case "status":
                return status_report(
                    self.pile,
                    self.settings.pile.id,
                    self.link,
                    self.outbox_depth(),
                    self.now(),
                )
            case "fault-clear":
                cid = request.get("connector")
                if not isinstance(cid, int):
                    raise RequestError("fault clear needs a connector number")
                reply, effects = self.pile.clear_faults(cid, self.now())
                self.apply(effects)
                if reply != cmd.ACCEPTED:
                    raise RequestError(f"fault clear refused: {reply.reason}")
                return {}
            case "relay-test":
                cid = request.get("connector")
                if not isinstance(cid, int) or cid not in self.pile.connectors:
                    raise RequestError(f"relay test: no connector {cid!r}")
                return self._logged_relay_test(cid)
            case "selftest":
                return self._logged_selftest()
            case "sim":
                return self._sim(request.get("args", []))
            case "update":
                return self._update(request.get("file"))
        raise RequestError(f"unknown request {request.get('cmd')!r}")

    def _update(self, file: Any) -> dict[str, Any]:
        """`pilectl update FILE`: FILE (and FILE.sig) copied beside the control socket."""
        if not isinstance(file, str) or not file.startswith("/"):
            raise RequestError("update: file must be an absolute path")
        order = cmd.Update(Path(file).as_uri(), local=True)
        reply, effects = self.pile.command(order, self.now())
        self.apply(effects)
        if reply != cmd.ACCEPTED:
            raise RequestError(f"update refused: {reply.reason}")
        return {}

    def _sim(self, args: Any) -> dict[str, Any]:
        hardware = self.interlock.backend
        if not isinstance(hardware, Simulated):
            raise RequestError('the hardware is real: pilectl sim drives only hal.driver = "sim"')
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise RequestError("sim: args must be a list of strings")
        try:
            hardware.drive(args)
        except ValueError as exc:
            raise RequestError(str(exc)) from None
        return {}

    async def _logged_relay_test(self, cid: int) -> dict[str, Any]:
        check = await self.relay_test(cid)
        log.info("connector %d: relay test: %s", cid, check.detail, extra={"connector": cid})
        return {"check": dataclasses.asdict(check)}

    async def _logged_selftest(self) -> dict[str, Any]:
        checks = await self.selftest()
        for check in checks:
            if not check.ok:
                log.warning("selftest: %s: %s", check.name, check.detail)
        return {"checks": [dataclasses.asdict(c) for c in checks]}

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

    async def diagnostics(
        self, url: str, name: str | None, feed: Callable[[ev.Event], None]
    ) -> None:
        """Gathers the diagnostics archive and uploads it to `url` (CONTRACT 12), saying how it
        goes to the core (`feed`), which publishes it."""
        # Imported only when asked for: ftplib, urllib and tarfile have no place in a boot.
        from pile_controller.fleet import diagnostics, diagnostics_file
        from pile_controller.fleet.recent import RECENT
        from pile_controller.fleet.worker import on_a_daemon_thread

        now = self.now()
        file = name or diagnostics_file(self.settings.pile.id, now)
        name = file.removesuffix(".tar.gz")
        checks = [self._pilot(c) for c in self.pile.connectors]
        checks += [self._meter(c) for c in self.pile.connectors]
        checks += self.software_checks()
        contents = diagnostics.Contents(
            list(RECENT.lines),
            [dataclasses.asdict(c) for c in checks],
            status_report(self.pile, self.settings.pile.id, self.link, self.outbox_depth(), now),
            self.last_events(),
        )
        feed(ev.DiagnosticsProgress("Uploading", url))

        def gather_and_upload() -> int:
            data = diagnostics.archive(self.settings.source, contents, name)
            diagnostics.upload(url, data, file)
            return len(data)

        try:
            size = await on_a_daemon_thread(gather_and_upload, "diagnostics")
        except (diagnostics.UploadError, OSError) as exc:
            log.warning("diagnostics to %s: upload failed: %s", url, exc)
            feed(ev.DiagnosticsProgress("UploadFailed", url, str(exc)[:200]))
            return
        log.info("diagnostics uploaded to %s (%d bytes)", url, size)
        feed(ev.DiagnosticsProgress("Uploaded", url))

    async def selftest(self) -> list[Check]:
        checks: list[Check] = []
        for cid in self.pile.connectors:
            checks += await self._connector(cid)
        return [*checks, *self.software_checks()]

    def software_checks(self) -> list[Check]:
        """The checks no device takes part in (a new release must pass them: CONTRACT 12)."""
        return [self._backend(), self._display(), self._disk()]

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

    def _backend(self) -> Check:
        link = self.link
        if link.connected:
            return Check(link.role, True, f"connected to {link.peer}")
        problem = f": {link.problem}" if link.problem else ""
        return Check(link.role, False, f"not connected to {link.peer}{problem}")

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
