"""The daemon: wires the core to the hardware, the journal, the backend link, the screen and
the control socket, on one asyncio loop. It makes no decisions; the core does.

Every step is the same: an event or command goes into the core with `now`; the relays the core
opens are opened at once; the events it publishes are committed to the journal; a command is
answered; once the commit is on disk the other effects are carried out, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import signal
import ssl
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from hal.devices import open_hardware
from hal.interfaces import Hardware, MeterError
from hal.interlock import Interlock
from hal.sim import SimPile, drive
from pile_controller import __version__, config, policy, systemd
from pile_controller.actuator import Actuator, Openings
from pile_controller.backend import commands as incoming
from pile_controller.backend import tls as link_tls
from pile_controller.backend.link import Link
from pile_controller.backend.messages import Answer, Birth, send_reply
from pile_controller.backend.outbox import Outbox
from pile_controller.backend.topics import Topics
from pile_controller.backend.wire import compact, status_message
from pile_controller.control import RequestError, serve, status_report
from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.connector import Context
from pile_controller.core.pile import Pile
from pile_controller.core.published import Published
from pile_controller.core.tariff import FREE, Tariff
from pile_controller.core.times import ClockWatch
from pile_controller.display import Display, DisplayError, NoDisplay, open_display
from pile_controller.flusher import Flusher
from pile_controller.folders import writable_problem
from pile_controller.journald import JournalHandler, under_journal
from pile_controller.retry import RateLimit, Throttle
from pile_controller.samples import HeldSamples, only_samples
from pile_controller.signing import KeyFileError, PileKey
from pile_controller.store import JournalError, Store
from pile_controller.technician import Technician

log = logging.getLogger("pile_controller")
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        settings: config.Settings,
        hardware: Hardware,
        display: Display | NoDisplay,
        store: Store,
        link: Link,
        key: PileKey,
        birth: Birth,
        clock: Clock = wall_clock,
    ):
        self.settings, self.hardware, self.display = settings, hardware, display
        self.store, self.link, self.key, self.birth = store, link, key, birth
        self.now = clock
        self.flusher = Flusher(store, self._journal_failed)
        self.actuator = Actuator(hardware, self._report)
        self.topics = Topics(settings.backend.topic_prefix, settings.pile.id)
        self.outbox = Outbox(store, link, self.topics.events)
        self.security = incoming.Security(
            settings.backend.public_key, timedelta(seconds=settings.backend.max_clock_skew_s)
        )
        self.pile = Pile([c.id for c in settings.connectors], self._context(), self.now())
        self._stopping = asyncio.Event()
        self.failure: str | None = None  # why the daemon stopped itself (systemd restarts it)
        self.held = HeldSamples()  # periodic meter samples, waiting for the next commit
        self.meters_polled_at = time.monotonic()  # the loop's clock: when the last round ended
        self._offline_since: datetime | None = self.now()  # not connected yet
        self._meter_failures = Throttle(every=60)  # polls a second: once a minute
        self._bugs = Throttle(every=100)  # by (where, exception type)
        self._refusals = RateLimit(every_s=60.0)  # messages the broker said no to
        self._resume_later: asyncio.TimerHandle | None = None

    def _context(self) -> Context:
        pile_id = self.settings.pile.id
        return Context.from_settings(
            self.settings,
            tariff=self._initial_tariff(),
            new_transaction_id=lambda: f"{pile_id}-{uuid.uuid4().hex[:16]}",
            sign=self.key.sign,
        )

    def _initial_tariff(self) -> Tariff:
        stored = self.store.get("tariff")
        if stored:
            return Tariff.from_json(json.loads(stored))
        return self.settings.tariff or FREE

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)

        def hand_over(event: ev.Event) -> None:  # devices may report from their own threads
            loop.call_soon_threadsafe(self.feed, event)

        self.hardware.attach(hand_over)
        self.link.attach(self._on_connect, self._on_message, self._acked, self._on_lost)
        # Rebuild what the journal knows (a session cut off by a crash is stopped and billed).
        self.apply(self.pile.restore(self.store.connector_snapshots(), self.now()))
        server = await serve(self.settings.control.socket, self.control)
        loops = (self.link.run(), self._ticks(), self._meters(), self._screens())
        tasks = [asyncio.create_task(t) for t in loops]
        for cid in self.pile.connectors:
            self._show(cid)
        systemd.notify("READY=1")
        # What boot built (modules, config, fonts, the machine's graph) lives as long as the
        # daemon: out of the collector's way, a full collection takes well under a millisecond
        # instead of 10-20 ms of a stalled loop (measured here during the reply benchmark).
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
        self.apply(self.pile.shut_down(self.now()))  # stops running transactions (reason Reboot)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.STOP_READINGS_WAIT_S
        while loop.time() < deadline and self.pile.sessions_closing():
            await asyncio.sleep(0.05)
        await self.flusher.drain()
        await asyncio.sleep(policy.LAST_WORDS_S)

    async def _close(self, tasks: list[asyncio.Task[None]], server: asyncio.Server) -> None:
        server.close()
        self.link.close(last_words=self._birth(False))
        for task in tasks:
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
        watch = ClockWatch(loop.time, time.time)
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
            if watchdog_s and loop.time() - pinged >= watchdog_s and self.healthy(loop.time()):
                systemd.notify("WATCHDOG=1")
                pinged = loop.time()

    async def _screens(self) -> None:
        while True:
            await asyncio.sleep(policy.SCREEN_REFRESH_S)
            for cid in self.pile.connectors:
                self._show(cid)  # redrawn only if the picture changed

    async def _meters(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for cid in self.pile.connectors:
                await self.read_meter(cid)
            self.meters_polled_at = loop.time()
            await asyncio.sleep(policy.METER_POLL_S)

    def healthy(self, loop_time: float) -> bool:
        """Whether systemd's watchdog may be told all is well: the loop runs (this is asked
        on its tick) and the meter polling has gone round lately. A meter that does not answer
        is a MeterFailure, not a hang: its read times out and the round goes on."""
        return loop_time - self.meters_polled_at < policy.METER_ROUND_HUNG_S

    async def read_meter(self, cid: int) -> None:
        meter = self.hardware.connectors[cid].meter
        try:
            reading = await asyncio.get_running_loop().run_in_executor(None, meter.read)
        except MeterError as exc:
            self.feed(ev.MeterUnreadable(cid, str(exc)))
            if self._meter_failures.seen(cid):
                log.warning("connector %d: meter: %s", cid, exc, extra={"connector": cid})
            return
        if self._meter_failures.clear(cid):
            log.info("connector %d: meter answers again", cid, extra={"connector": cid})
        self.feed(ev.MeterReading(cid, dataclasses.replace(reading, at=self.now())))

    # --- the one step --------------------------------------------------------------------------

    def feed(self, event: ev.Event) -> None:
        try:
            self.apply(self.pile.handle(event, self.now()))
        except Exception:
            # A bug must neither stop the daemon nor leave power on behind it: the core will see
            # the relays disagree with what it commanded, fault, and stop (and bill) the session.
            self._bug(f"handling {type(event).__name__}", repr(event))
            self.actuator.open_every_relay()

    def _report(self, event: ev.Event) -> None:
        """What the daemon itself learns for the core (a command reached its device): fed after
        the step under way, never inside it."""
        asyncio.get_running_loop().call_soon(self.feed, event)

    def _bug(self, where: str, subject: str) -> None:
        """Logs the exception being handled, with its traceback, the first time it is seen at
        `where` and then every 100th time: a bug hit on every tick (ten a second) must not fill
        the pile's disk with tracebacks."""
        exc_type = sys.exc_info()[0]
        if seen := self._bugs.seen((where, exc_type.__name__ if exc_type else "?")):
            log.exception("%s failed (%d times so far): %s", where, seen, subject)

    def apply(self, effects: list[fx.Effect], answer: Answer | None = None) -> None:
        """Opens the relays the core opened, now; commits the events, the tariff and the reply
        to the command that caused them to the journal; answers the command; and carries out
        the other effects once the commit is on disk: write ahead, then act.

        The reply does not wait for the disk: it promises nothing the backend could lose. The
        facts it may act on (the events) and every close of a relay or move of a lock are sent
        or made only from disk, and a power cut that takes the commit also takes the command's
        id, so the backend's retry is carried out afresh."""
        if self.failure is not None:
            return  # stopping: the journal no longer says what the core believes
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
        remembered = answer.to_journal if answer else None
        journaled = bool(published or remembered or facts)
        if journaled:
            published = self.held.release() + published  # in the order the core made them
            try:
                self.store.append_events(
                    published, reply=remembered, connectors=self.pile.snapshots(), facts=facts
                )
            except Exception as exc:  # whatever it was, nothing is on record
                if answer is not None:
                    refusal = incoming.reply_json(answer.command_id, cmd.rejected("InternalError"))
                    send_reply(self.link, self.topics, refusal, answer.msg)
                self._journal_failed(exc)
                return
        tell_the_log(published)
        if answer is not None:
            send_reply(self.link, self.topics, answer.text, answer.msg)
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
        self.flusher.then(self.outbox.pump, True)

    def _carry_out(self, effects: list[fx.Effect], queued_at: Openings, published: bool) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: the power stays off
        try:
            shown: set[int] = set()
            for effect in self.actuator.carry_out(effects, queued_at):
                match effect:
                    case fx.ReadMeter(connector=c):
                        asyncio.get_running_loop().create_task(self.read_meter(c))
                    case fx.PublishStatus(connector=c):
                        self.publish_status(c)
                        shown.add(c)
                    case fx.PublishOnline():
                        self.publish_online()
                    case fx.Redraw(connector=c):
                        shown.add(c)
                    case fx.Note(connector=c, text=text):
                        log.warning("connector %d: %s", c, text, extra={"connector": c})
            if published:
                self.outbox.pump()
            for c in shown:
                self._show(c)
        except Exception:
            self._bug("carrying out effects", repr(effects))
            self.actuator.open_every_relay()

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
        lost = self._offline_since
        online = lost is None or self.now() - lost < policy.OFFLINE_SCREEN_AFTER
        self.display.show(self.pile.connectors[cid], self.now(), online)

    # --- the backend ---------------------------------------------------------------------------

    def _acked(self, mid: int, refusal: str | None) -> None:
        if refusal is not None:
            self._refused(mid, refusal)
            return
        try:
            self.outbox.acked(mid)  # the event leaves the journal with the next commit
        except Exception as exc:  # a journal that refuses is a journal failure
            self._journal_failed(exc)

    def _refused(self, mid: int, refusal: str) -> None:
        """The broker said no to a message (MQTT 5: an ACL that does not let the pile publish
        there). A refused event is not delivered: it stays journaled and is sent again."""
        seq = self.outbox.refused(mid)
        if seq is not None and self._resume_later is None:
            self._resume_later = asyncio.get_running_loop().call_later(
                policy.REFUSED_RETRY_S, self._resume_outbox
            )
        if self._refusals.seen() is not None:
            what = f"event seq {seq}" if seq is not None else "a birth, status or reply"
            log.error(
                "the broker refused %s: %s (does its ACL let this pile publish under %s?); "
                "events stay in the journal and are sent again at the next connect or in %d s",
                what,
                refusal,
                self.topics.base,
                policy.REFUSED_RETRY_S,
            )

    def _resume_outbox(self) -> None:
        if self._resume_later is not None:
            self._resume_later.cancel()
            self._resume_later = None
        self.outbox.resume()

    def _forget_delivered(self) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: no more commits
        try:
            self.store.forget_delivered()  # what no command or event has committed since
        except Exception as exc:
            self._journal_failed(exc)

    def _on_lost(self) -> None:
        self._offline_since = self.now()

    def _on_connect(self) -> None:
        self._offline_since = None
        # Subscribed first: the broker takes our packets in order, so whoever sees the birth
        # can command the pile (a command sent on seeing it had raced the subscription and,
        # on a first connection, was lost).
        self.link.subscribe(self.topics.commands)
        self.publish_online()
        for cid in self.pile.connectors:
            self.publish_status(cid)
        self._resume_outbox()  # refused events too: perhaps the broker's ACL was mended

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        name = self.topics.command_name(msg.topic)
        if name is None or (name == "tariff" and not msg.payload):
            return  # clearing the retained tariff (an empty message) is not a command
        decoded: incoming.Decoded | None = None
        try:
            decoded = incoming.decode(name, bytes(msg.payload), self.now(), self.security)
            self._handle_command(name, decoded, msg)
        except Exception:
            self._bug(f"command {name}", repr(msg.payload[:200]))
            refusal = cmd.rejected("InternalError")
            text = incoming.reply_json(decoded.id if decoded else None, refusal)
            send_reply(self.link, self.topics, text, msg)

    def _handle_command(self, name: str, decoded: incoming.Decoded, msg: mqtt.MQTTMessage) -> None:
        if decoded.remembered and (previous := self.store.reply_for(decoded.id or "")):
            send_reply(self.link, self.topics, previous, msg)
            return
        if decoded.command is not None:
            reply, effects = self.pile.command(decoded.command, self.now())
        else:
            assert decoded.refusal is not None
            reply, effects = decoded.refusal, []
            log.info(
                "command %s (id %r) refused: %s%s",
                name,
                decoded.id,
                reply.reason,
                f" ({decoded.detail!a})" if decoded.detail else "",
            )
        text = incoming.reply_json(decoded.id, reply)
        self.apply(effects, Answer(decoded.id, text, msg, remember=decoded.remembered))

    def publish_online(self) -> None:
        self.link.publish(self.topics.online, self._birth(True)[1], retain=True)

    def publish_status(self, cid: int) -> None:
        status = status_message(self.pile.connectors[cid], self.now())
        self.link.publish(self.topics.status(cid), compact(status), retain=True)

    def _birth(self, online: bool) -> tuple[str, bytes]:
        return self.topics.online, self.birth.message(online, self.now())

    # --- the control socket --------------------------------------------------------------------

    def control(self, request: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        match request.get("cmd"):
            case "status":
                return status_report(
                    self.pile,
                    self.settings.pile.id,
                    self.link.connected,
                    self.store.outbox_depth(),
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
                return self._relay_test(cid)
            case "selftest":
                return self._selftest()
            case "sim":
                sim = getattr(self.hardware, "backend", self.hardware)
                if not isinstance(sim, SimPile):
                    raise RequestError(
                        'the hardware is real: pilectl sim drives only hal.driver = "sim"'
                    )
                args = request.get("args", [])
                if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                    raise RequestError("sim: args must be a list of strings")
                try:
                    drive(sim, args)
                except ValueError as exc:
                    raise RequestError(str(exc)) from None
                return {}
        raise RequestError(f"unknown request {request.get('cmd')!r}")

    def _technician(self) -> Technician:
        if not isinstance(self.hardware, Interlock):
            raise RequestError("this pile's hardware has no interlock to test through")
        return Technician(
            self.settings, self.pile, self.hardware, self.link, self.display, self.now, self.apply
        )

    async def _relay_test(self, cid: int) -> dict[str, Any]:
        check = await self._technician().relay_test(cid)
        log.info("connector %d: relay test: %s", cid, check.detail, extra={"connector": cid})
        return {"check": dataclasses.asdict(check)}

    async def _selftest(self) -> dict[str, Any]:
        checks = await self._technician().selftest()
        for check in checks:
            if not check.ok:
                log.warning("selftest: %s: %s", check.name, check.detail)
        return {"checks": [dataclasses.asdict(c) for c in checks]}


# Events a technician reading the journal wants to see, with their connector and transaction
# as fields (journalctl CONNECTOR=1, TRANSACTION_ID=...).
LOGGED = {
    "transaction.started",
    "transaction.stopped",
    "payment.settled",
    "fault.raised",
    "fault.cleared",
}


def tell_the_log(published: list[Published]) -> None:
    for e in published:
        if e.type not in LOGGED:
            continue
        tx = getattr(e, "transaction_id", None)
        detail = " ".join(
            str(v)
            for v in (tx, getattr(e, "code", None), getattr(e, "reason", None))
            if v is not None
        )
        log.info(
            "connector %d: %s %s",
            e.connector,
            e.type,
            detail,
            extra={"connector": e.connector, "transaction": tx},
        )


def assemble(
    settings: config.Settings,
    hardware: Hardware,
    display: Display | NoDisplay,
    tls: ssl.SSLContext | None = None,
) -> Daemon:
    """The daemon and what it is passed: the journal, the pile's key, the backend link (over
    `tls` if given) and the clock (the simulated pile's own, which `pilectl sim clock` moves).
    Call it on the loop."""
    state = settings.pile.state_dir
    store = Store(state / "journal.sqlite")
    key = PileKey.load_or_create(state / "pile.key")
    birth = Birth(settings, key.public_b64)
    sim = getattr(hardware, "backend", hardware)
    clock = sim.wall_clock if isinstance(sim, SimPile) else wall_clock
    topics = Topics(settings.backend.topic_prefix, settings.pile.id)
    will = (topics.online, birth.message(False, clock()))
    link = Link(settings.backend, client_id=f"pile-{settings.pile.id}", will=will, tls=tls)
    return Daemon(settings, hardware, display, store, link, key, birth, clock)


def check_config(path: str) -> int:
    try:
        settings = config.load(Path(path))
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for warning in config.warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check-config"]:
        if len(argv) != 2:
            print("usage: pile-controller check-config PATH", file=sys.stderr)
            return 2
        return check_config(argv[1])
    parser = argparse.ArgumentParser(prog="pile-controller", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None, help="config file (TOML)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if under_journal():
        handler: logging.Handler = JournalHandler()  # the journal keeps level and time itself
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.getLogger("transitions").setLevel(logging.WARNING)  # it logs every state change
    path = args.config or config.default_path()
    try:
        settings = config.load(path)
        folders = {  # each folder once: the journal's key where the socket shares its folder
            settings.control.socket.parent: "control.socket",
            settings.pile.state_dir: "pile.state_dir",
        }
        problems = [f"{key}: {p}" for f, key in folders.items() if (p := writable_problem(f))]
        if problems:
            raise config.ConfigError(problems)
        tls = link_tls.context(settings.backend.tls)
        hardware = open_hardware(settings)
        display = open_display(settings)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"pile-controller: {problem}", file=sys.stderr)
        return 1
    except DisplayError as exc:
        print(f"pile-controller: display: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        daemon = assemble(settings, hardware, display, tls)
        await daemon.run()
        return 1 if daemon.failure else 0

    try:
        return asyncio.run(run())
    except (OSError, JournalError, KeyFileError) as exc:
        print(f"pile-controller: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
