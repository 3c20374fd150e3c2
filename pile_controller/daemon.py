"""The daemon: wires the core to the hardware, the journal, the backend link, the screen and
the control socket, on one asyncio loop. It makes no decisions; the core does.

Every step is the same: an event or command goes into the core with `now`; the relays the core
opens are opened at once; the events it publishes are committed to the journal; a command is
answered; once the commit is on disk the other effects are carried out, in order.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from hal.interlock import Interlock
from pile_controller import __version__, config, fastclasses
from pile_controller.backend.link import Link, Request
from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.connector import Connector, Context
from pile_controller.core.pile import Pile
from pile_controller.core.times import ClockWatch
from pile_controller.fleet import trial
from pile_controller.fleet.releases import Releases
from pile_controller.journal.flusher import Flusher
from pile_controller.journal.samples import HeldSamples, only_samples
from pile_controller.journal.store import Envelope, Store
from pile_controller.retry import Bugs
from pile_controller.screen.display import Display, NoDisplay
from pile_controller.service import policy, systemd
from pile_controller.service.actuator import Actuator, Openings
from pile_controller.service.journald import tell_the_log
from pile_controller.service.polling import MeterPolling
from pile_controller.signing import PileKey
from pile_controller.technician.commands import Technician
from pile_controller.technician.control import serve

log = logging.getLogger("pile_controller")
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        settings: config.Settings,
        hardware: Interlock,
        display: Display | NoDisplay,
        store: Store,
        link: Link,
        key: PileKey,
        clock: Clock = wall_clock,
    ):
        self.settings, self.hardware, self.display = settings, hardware, display
        self.store, self.link = store, link
        self.now = clock
        self.flusher = Flusher(store, self._journal_failed)
        self.actuator = Actuator(hardware, self._report)
        context = Context.of(settings, key.sign)
        self.pile = Pile([c.id for c in settings.connectors], context, self.now())
        self._stopping = asyncio.Event()
        self._shutdown_reason = "Reboot"  # why running transactions stop when the daemon does
        self._tasks: set[asyncio.Task[None]] = set()  # background work (`_background`)
        self.releases = Releases.running()  # None: not run from scripts/install's layout
        self.failure: str | None = None  # why the daemon stopped itself (systemd restarts it)
        self.held = HeldSamples()  # periodic meter samples, waiting for the next commit
        self.meters = MeterPolling(hardware, self.feed, clock)
        self._bugs = Bugs(log)
        link.attach(self)  # it calls on the port once it runs

    def restore(self) -> None:
        """Rebuilds what the journal knows (a session cut off by a crash is stopped and billed)."""
        tariff = self.store.get("tariff")
        snapshots = self.store.connector_snapshots()
        self.apply(self.pile.restore(snapshots, json.loads(tariff) if tariff else None, self.now()))

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)

        def hand_over(event: ev.Event) -> None:  # devices may report from their own threads
            loop.call_soon_threadsafe(self.feed, event)

        self.hardware.attach(hand_over)
        self.restore()
        server = await serve(self.settings.control.socket, self._technician().request)
        loops = (self.link.run(), self._ticks(), self.meters.run(), self._screens())
        tasks = [asyncio.create_task(t) for t in loops]
        self._on_trial()
        systemd.notify("READY=1")
        # What boot built (modules, config, fonts, the machine's graph) lives as long as the
        # daemon: out of the collector's way, a full collection takes well under a millisecond
        # instead of 10-20 ms of a stalled loop (measured here during the reply benchmark).
        fastclasses.forget()  # the boot's classes are made: their cached code is theirs now
        gc.collect()  # boot's garbage first (the collector was off: __main__.py), then
        gc.freeze()
        gc.enable()
        log.info(
            "pile %s up: %d connectors, firmware %s",
            self.settings.pile.id,
            len(self.pile.connectors),
            __version__,
        )
        await self._stopping.wait()
        systemd.notify("STOPPING=1")
        if self.failure is None:
            log.info("stopping")
            await self._stop_sessions()
        await self._close(tasks, server)

    async def _stop_sessions(self) -> None:
        self.apply(self.pile.shut_down(self.now(), self._shutdown_reason))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.STOP_READINGS_WAIT_S
        while loop.time() < deadline and self.pile.sessions_closing():
            await asyncio.sleep(0.05)
        await self.flusher.drain()
        await asyncio.sleep(policy.LAST_WORDS_S)

    async def _close(self, tasks: list[asyncio.Task[None]], server: asyncio.Server) -> None:
        server.close()
        self.link.close()
        for task in [*tasks, *self._tasks]:  # an upload under way ends with the daemon
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.actuator.open_every_relay()
        self.hardware.close()
        if self.failure is None:
            self._commit_held()
        await self.flusher.drain()  # its failure, if any, was reported and stopped the rest
        if self.failure is None:
            self.store.close()
        else:  # a failed journal is left as the disk has it
            self.store.abandon()
        self.settings.control.socket.unlink(missing_ok=True)

    async def _ticks(self) -> None:
        watchdog_s = systemd.watchdog_interval_s()
        loop = asyncio.get_running_loop()
        pinged = loop.time()
        # A loop with a clock of its own (the tests' virtual time) gives its wall time too.
        watch = ClockWatch(loop.time, getattr(loop, "wall_time", time.time))
        while True:
            await asyncio.sleep(
                policy.TICK_S if self.pile.awaits_feedback() else policy.IDLE_TICK_S
            )
            if step := watch.step():
                log.warning("wall clock stepped by %+.1f s; timers keep their length", step)
                self.feed(ev.ClockStepped(timedelta(seconds=step)))
            self.feed(ev.Tick())
            self._commit_held_when_due()
            self._forget_delivered()
            if (
                watchdog_s
                and loop.time() - pinged >= watchdog_s
                and self.meters.healthy(loop.time())
            ):
                systemd.notify("WATCHDOG=1")
                pinged = loop.time()

    async def _screens(self) -> None:
        # The first pictures (Pillow's import, fonts, QR codes: a third of a field pile's boot)
        # once the backend's link is up, or FIRST_SCREEN_S after the start: the birth first.
        loop = asyncio.get_running_loop()
        first = loop.time() + policy.FIRST_SCREEN_S
        while not self.link.connected and loop.time() < first:
            await asyncio.sleep(policy.TICK_S)
        while True:
            for cid in self.pile.connectors:
                self._show(cid)  # redrawn only if the picture changed
            await asyncio.sleep(policy.SCREEN_REFRESH_S)

    # --- the one step --------------------------------------------------------------------------

    def feed(self, event: ev.Event) -> None:
        try:
            self.apply(self.pile.handle(event, self.now()))
        except Exception:
            # A bug must neither stop the daemon nor leave power on behind it: the core will see
            # the relays disagree with what it commanded, fault, and stop (and bill) the session.
            self._bugs.seen(f"handling {type(event).__name__}", repr(event))
            self.actuator.open_every_relay()

    def _report(self, event: ev.Event) -> None:
        """What the daemon itself learns for the core (a command reached its device): fed after
        the step under way, never inside it."""
        asyncio.get_running_loop().call_soon(self.feed, event)

    def apply(
        self, effects: list[fx.Effect], replying: tuple[Request, cmd.Reply] | None = None
    ) -> None:
        """Opens the relays the core opened, now; commits the events, the tariff and the reply
        to the command that caused them (`replying`) to the journal; answers the command; and
        carries out the other effects once the commit is on disk: write ahead, then act.

        The reply does not wait for the disk: it promises nothing the backend could lose. The
        facts it may act on (the events) and every close of a relay or move of a lock are sent
        or made only from disk, and a power cut that takes the commit also takes the command's
        id, so the backend's retry is carried out afresh."""
        if self.failure is not None:
            return  # stopping: the journal no longer says what the core believes
        answer = replying[0].answer(replying[1]) if replying else None
        effects = self.actuator.open_now(effects)  # before any write: opening waits for nothing
        published = [e.event for e in effects if isinstance(e, fx.Publish)]
        if answer is None and only_samples(effects):
            self.held.hold(published, self.now())
            queued_at = self.actuator.openings()
            self.flusher.then(lambda: self._carry_out(effects, queued_at, False), False)
            return
        facts: dict[str, str] = {}
        for e in effects:
            if isinstance(e, fx.SaveTariff):
                facts["tariff"] = json.dumps(e.tariff.as_json())
        remembered = (answer.journal_as, answer.text) if answer and answer.journal_as else None
        journaled = bool(published or remembered or facts)
        if journaled:
            published = self.held.release() + published  # in the order the core made them
            try:
                self.store.append_events(
                    published, reply=remembered, connectors=self.pile.snapshots(), facts=facts
                )
            except Exception as exc:  # whatever it was, nothing is on record
                if replying is not None:
                    replying[0].answer(cmd.rejected("InternalError")).send()
                self._journal_failed(exc)
                return
        tell_the_log(published)
        if answer is not None:
            answer.send()
        queued_at = self.actuator.openings()
        self.flusher.then(lambda: self._carry_out(effects, queued_at, bool(published)), journaled)

    def _commit_held_when_due(self) -> None:
        if self.failure is None and self.held.due(self.now()):
            self._commit_held()

    def _commit_held(self) -> None:
        held = self.held.release()
        if not held:
            return
        try:
            self.store.append_events(held, connectors=self.pile.snapshots())
        except Exception as exc:
            self._journal_failed(exc)
            return
        self.flusher.then(self.link.deliver, True)

    def _carry_out(self, effects: list[fx.Effect], queued_at: Openings, published: bool) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: the power stays off
        try:
            shown: set[int] = set()
            for effect in self.actuator.carry_out(effects, queued_at):
                match effect:
                    case fx.ReadMeter(connector=c):
                        asyncio.get_running_loop().create_task(self.meters.read(c))
                    case fx.PublishStatus(connector=c):
                        self.link.status(c)
                        shown.add(c)
                    case fx.PublishOnline():
                        self.link.announce()
                    case fx.Redraw(connector=c):
                        shown.add(c)
                    case fx.Note(connector=c, text=text):
                        log.warning("connector %d: %s", c, text, extra={"connector": c})
                    case fx.UploadDiagnostics(url=url, name=name):
                        self._background(
                            self._technician().diagnostics(url, name, self.feed),
                            ev.DiagnosticsProgress("UploadFailed", url, "internal error"),
                        )
                    case fx.InstallUpdate(update=order):
                        self._background(
                            self._update(order),
                            ev.FirmwareProgress("InstallationFailed", None, "internal error"),
                        )
            if published:
                self.link.deliver()
            for c in shown:
                self._show(c)
        except Exception:
            self._bugs.seen("carrying out effects", repr(effects))
            self.actuator.open_every_relay()

    async def _update(self, order: cmd.Update) -> None:
        from pile_controller.fleet import update  # not a boot's: only when an update comes

        pile = update.Pile(
            self.feed,
            self.pile.in_session,
            self._restart,
            self.settings.release_key,
            self.releases,
            self.now,
        )
        await update.carry_out(order, pile)

    def _on_trial(self) -> None:
        """A release just updated to proves itself, or is switched back (fleet/trial.py)."""
        if self.releases is not None:
            confirm_s = self.settings.update.confirm_s
            online, busy = self._online, self.pile.in_session
            self._background(
                trial.watch(self.releases, confirm_s, online, busy, self.feed, self._restart)
            )

    def _online(self) -> bool:
        return all(check.ok for check in self._technician().software_checks())

    def _background(self, work: Coroutine[Any, Any, None], failed: ev.Event | None = None) -> None:
        """Work that takes its time beside the loop (an upload); kept until it ends. A bug in
        it is logged as any bug is, and `failed` tells the core it is over (else the core
        would refuse the next upload or update as Busy until a restart)."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                self._bugs.seen("background work", repr(work))
                if failed is not None:
                    self.feed(failed)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _journal_failed(self, error: BaseException) -> None:
        """The journal refused a write or a flush (a full or dying disk), or a step could not be
        written at all: the core has moved on from what is on disk, and nothing it decides now
        could be billed. Power off, carry out nothing more, and stop with exit 1: systemd
        starts the daemon again, which rebuilds every connector from the journal (a session cut
        off is stopped and billed, PowerLoss)."""
        self.actuator.open_every_relay()
        if self.failure is None:
            self.failure = f"journal: {error}"
            log.critical("the journal failed (%s): power off; restarting to rebuild from it", error)
            self._stopping.set()

    def _show(self, cid: int) -> None:
        now = self.now()
        self.display.show(self.pile.connectors[cid], now, self.pile.online(now))

    # --- the backend link's port (backend/link.py) ---------------------------------------------

    def connectors(self) -> dict[int, Connector]:
        return self.pile.connectors

    def execute(self, request: Request) -> None:
        if self.failure is not None:  # the journal failed: nothing could be carried out
            request.answer(cmd.rejected("InternalError")).send()
            return
        try:
            if request.command is not None:
                reply, effects = self.pile.command(request.command, self.now())
            else:
                assert request.refusal is not None
                reply, effects = request.refusal, []
        except Exception:
            self._bugs.seen("a command", repr(request.command))
            self.actuator.open_every_relay()
            request.answer(cmd.rejected("InternalError")).send()
            return
        self.apply(effects, (request, reply))

    # A journal that cannot be read is a journal failure: power off, restart, rebuild.

    def replied(self, command_id: str) -> str | None:
        try:
            return self.store.reply_for(command_id)
        except Exception as exc:
            self._journal_failed(exc)
            return None

    def undelivered(self, after: int, limit: int) -> list[Envelope]:
        try:
            return self.store.undelivered(after, limit)
        except Exception as exc:
            self._journal_failed(exc)
            return []

    def acknowledged(self, seq: int) -> None:
        self.store.delivered(seq)  # it leaves the journal with a later commit

    def remember(self, facts: dict[str, str]) -> None:
        if self.failure is not None:
            return
        try:
            self.store.put(facts)
        except Exception as exc:
            self._journal_failed(exc)

    def recall(self, key: str) -> str | None:
        return self.store.get(key)

    def in_session(self) -> bool:
        return self.pile.in_session()

    def restart(self, reason: str) -> None:
        log.warning("the backend asked for a restart (%s)", reason)
        self._restart(reason)

    def _restart(self, reason: str) -> None:
        self._shutdown_reason = reason  # why sessions stop, if any runs (systemd restarts us)
        self._stopping.set()

    def up(self) -> None:
        self.feed(ev.LinkUp())

    def down(self) -> None:
        self.feed(ev.LinkDown())

    def _forget_delivered(self) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: no more commits
        try:
            self.store.forget_delivered()  # what no command or event has committed since
        except Exception as exc:
            self._journal_failed(exc)

    def _technician(self) -> Technician:
        return Technician(
            self.settings,
            self.pile,
            self.hardware,
            self.link,
            self.display,
            self.now,
            self.apply,
            self.store.outbox_depth,
            lambda: self.store.last_events(200),
        )
