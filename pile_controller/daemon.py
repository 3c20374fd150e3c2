"""The daemon: wires the core to the hardware, the journal, the backend link, the screen and
the control socket, on one asyncio loop. It makes no decisions; the core does.

Every step is the same: an event or command goes into the core with `now`; the events it
publishes are committed to the journal; a command is answered; once the commit is on disk the
other effects are carried out, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hal.framebuffer import FramebufferError
from hal.interfaces import Hardware, MeterError
from hal.modbus import endpoint_of, open_meter
from hal.sim import SimPile, drive
from pile_controller import __version__, config
from pile_controller.backend import commands as wire
from pile_controller.backend.link import Link
from pile_controller.backend.outbox import Outbox
from pile_controller.backend.topics import Topics
from pile_controller.control import RequestError, serve
from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.connector import Connector, Context
from pile_controller.core.pile import Pile
from pile_controller.core.tariff import FREE, Tariff
from pile_controller.core.times import iso
from pile_controller.display import Display, NoDisplay, open_display
from pile_controller.flusher import Flusher
from pile_controller.render import FontError
from pile_controller.signing import KeyFileError, PileKey
from pile_controller.store import JournalError, Store

log = logging.getLogger("pile_controller")
TICK_S = 0.1  # timers (feedback, expiry, staleness) are checked this often
METER_POLL_S = 1.0
OFFLINE_SCREEN_AFTER = timedelta(seconds=30)
DEFAULT_CONFIG = Path("/etc/pile-controller/config.toml")


class Daemon:
    def __init__(self, settings: config.Settings, hardware: Hardware, display: Display | NoDisplay):
        self.settings = settings
        self.hardware = hardware
        self.display = display
        self.clock_offset = timedelta(0)  # moved only by `pilectl sim clock` (simulated piles)
        state = settings.pile.state_dir
        self.store = Store(state / "journal.sqlite")
        self.flusher = Flusher(self.store, self._journal_failed)
        self.key = PileKey.load_or_create(state / "pile.key")
        self.boot_id = str(uuid.uuid4())
        self.topics = Topics(settings.backend.topic_prefix, settings.pile.id)
        self.security = wire.Security(
            settings.backend.public_key, timedelta(seconds=settings.backend.max_clock_skew_s)
        )
        self.pile = Pile([c.id for c in settings.connectors], self._context(), self.now())
        self._stopping = asyncio.Event()
        self.failure: str | None = None  # why the daemon stopped itself (systemd restarts it)
        self._offline_since: datetime | None = self.now()  # not connected yet
        self._meter_failures: dict[int, int] = {}
        self._bugs: dict[tuple[str, str], int] = {}  # (where, exception type) -> times seen

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def _context(self) -> Context:
        s = self.settings
        return Context(
            pile_id=s.pile.id,
            max_attempts=s.reservation.max_attempts,
            lockout=timedelta(seconds=s.reservation.lockout_s),
            relay_feedback=timedelta(milliseconds=s.hal.relay_feedback_ms),
            lock_feedback=timedelta(milliseconds=s.hal.lock_feedback_ms),
            stale_after=timedelta(seconds=s.metering.stale_after_s),
            interval=timedelta(seconds=s.metering.interval_s),
            plug_timeout=timedelta(seconds=s.pile.plug_timeout_s),
            release_after=timedelta(seconds=s.payment.release_after_s)
            if s.payment.release_after_s
            else None,
            zone=ZoneInfo(s.pile.timezone),
            payment_url_template=s.payment.url_template,
            tariff=self._initial_tariff(),
            new_transaction_id=lambda: f"{s.pile.id}-{uuid.uuid4().hex[:16]}",
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
        self.link = Link(
            self.settings.backend,
            client_id=f"pile-{self.settings.pile.id}",
            will=self._online_message(False),
            on_connect=self._on_connect,
            on_lost=self._on_lost,
            on_message=self._on_message,
            on_ack=self._acked,
        )
        self.outbox = Outbox(self.store, self.link, self.topics.events)
        # Rebuild what the journal knows (a session cut off by a crash is stopped and billed).
        self.apply(self.pile.restore(self.store.connector_snapshots(), self.now()))
        server = await serve(self.settings.control.socket, self.control)
        loops = (self.link.run(), self._ticks(), self._meters(), self._screens())
        tasks = [asyncio.create_task(t) for t in loops]
        for c in self.pile.connectors.values():
            self._show(c)
        notify_systemd("READY=1")
        # What boot built (modules, config, fonts, the machine's graph) lives as long as the
        # daemon: out of the collector's way, a full collection takes well under a millisecond
        # instead of 10-20 ms of a stalled loop (measured here during the reply benchmark).
        gc.freeze()
        log.info(
            "pile %s up: %d connectors, firmware %s",
            self.settings.pile.id,
            len(self.pile.connectors),
            __version__,
        )
        await self._stopping.wait()
        if self.failure is None:
            log.info("stopping")
            await self._stop_sessions()
        await self._close(tasks, server)

    async def _stop_sessions(self) -> None:
        self.apply(self.pile.shut_down(self.now()))  # stops running transactions (reason Reboot)
        # Wait for their stop readings (a Modbus meter may take a second or two); whatever is
        # still open after that is finished from the journal at the next start.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while loop.time() < deadline and any(
            c.transaction is not None and not c.transaction.finished
            for c in self.pile.connectors.values()
        ):
            await asyncio.sleep(0.05)
        await self.flusher.drain()
        await asyncio.sleep(0.1)  # and give the link a moment to send the last events

    async def _close(self, tasks: list[asyncio.Task[None]], server: asyncio.Server) -> None:
        server.close()
        self.link.close(last_words=self._online_message(False))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._open_every_relay()
        self.hardware.close()
        if self.failure is None:  # a failed journal is left as the disk has it
            await self.flusher.drain()
            self.store.close()
        self.settings.control.socket.unlink(missing_ok=True)

    async def _ticks(self) -> None:
        # systemd wants a ping at least every WatchdogSec; once every quarter of it is plenty.
        watchdog_s = int(os.environ.get("WATCHDOG_USEC", "0")) / 4e6
        loop = asyncio.get_running_loop()
        pinged = loop.time()
        watch = ClockWatch(loop.time)
        while True:
            await asyncio.sleep(TICK_S)
            if step := watch.step():
                log.warning("wall clock stepped by %+.1f s; timers keep their length", step)
                self.feed(ev.ClockStepped(timedelta(seconds=step)))
            self.feed(ev.Tick())
            self._forget_delivered()
            if watchdog_s and loop.time() - pinged >= watchdog_s:
                notify_systemd("WATCHDOG=1")
                pinged = loop.time()

    async def _screens(self) -> None:
        # Countdowns and the charging screen change every second; idle screens are not redrawn.
        while True:
            await asyncio.sleep(1.0)
            for c in self.pile.connectors.values():
                self._show(c)

    async def _meters(self) -> None:
        while True:
            for cid in self.pile.connectors:
                await self.read_meter(cid)
            await asyncio.sleep(METER_POLL_S)

    async def read_meter(self, cid: int) -> None:
        meter = self.hardware.connectors[cid].meter
        try:
            reading = await asyncio.get_running_loop().run_in_executor(None, meter.read)
        except MeterError as exc:
            self.feed(ev.MeterUnreadable(cid, str(exc)))
            failures = self._meter_failures.get(cid, 0)
            if failures % 60 == 0:  # once, then once a minute: no flood while a meter is absent
                log.warning("connector %d: meter: %s", cid, exc)
            self._meter_failures[cid] = failures + 1
            return
        if self._meter_failures.pop(cid, 0):
            log.info("connector %d: meter answers again", cid)
        self.feed(ev.MeterReading(cid, dataclasses.replace(reading, at=self.now())))

    # --- the one step --------------------------------------------------------------------------

    def feed(self, event: ev.Event) -> None:
        try:
            self.apply(self.pile.handle(event, self.now()))
        except Exception:
            # A bug must neither stop the daemon nor leave power on behind it: the core will see
            # the relays disagree with what it commanded, fault, and stop (and bill) the session.
            self._bug(f"handling {type(event).__name__}", repr(event))
            self._open_every_relay()

    def _bug(self, where: str, subject: str) -> None:
        """Logs the exception being handled, with its traceback, the first time it is seen at
        `where` and then every 100th time: a bug hit on every tick (ten a second) must not fill
        the pile's disk with tracebacks."""
        exc_type = sys.exc_info()[0]
        key = (where, exc_type.__name__ if exc_type else "?")
        seen = self._bugs[key] = self._bugs.get(key, 0) + 1
        if seen % 100 == 1:
            log.exception("%s failed (%d times so far): %s", where, seen, subject)

    def apply(self, effects: list[fx.Effect], answer: Answer | None = None) -> None:
        """Commits the events (and the reply to the command that caused them) to the journal,
        answers the command, and carries out the other effects once the commit is on disk:
        write ahead, then act.

        The reply does not wait for the disk: it promises nothing the backend could lose. The
        facts it may act on (the events) and every change to relay and lock are sent or made
        only from disk, and a power cut that takes the commit also takes the command's id, so
        the backend's retry is carried out afresh."""
        if self.failure is not None:
            return  # stopping: the journal no longer says what the core believes
        published = [e for e in effects if isinstance(e, fx.Publish)]
        remembered = answer.to_journal if answer else None
        journaled = bool(published or remembered)
        if journaled:
            snapshots = self.pile.snapshots()
            try:
                self.store.append_events(published, reply=remembered, connectors=snapshots)
            except sqlite3.Error as exc:
                self._journal_failed(exc)
                return
        if answer is not None:
            self._reply(answer.text, answer.msg)
        self.flusher.then(lambda: self._carry_out(effects, bool(published)), dirty=journaled)

    def _carry_out(self, effects: list[fx.Effect], published: bool) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: the power stays off
        try:
            shown: set[int] = set()
            for effect in effects:
                if isinstance(effect, fx.CloseRelay) and self._stale_close(effect.connector):
                    continue
                if done := actuate(self.hardware, effect):
                    asyncio.get_running_loop().call_soon(self.feed, done)
                    continue
                match effect:
                    case fx.ReadMeter(connector=c):
                        asyncio.get_running_loop().create_task(self.read_meter(c))
                    case fx.PublishStatus(connector=c):
                        self.publish_status(c)
                        shown.add(c)
                    case fx.PublishOnline():
                        self.publish_online()
            if published:
                self.outbox.pump()
            for c in shown:
                self._show(self.pile.connectors[c])
        except Exception:
            self._bug("carrying out effects", repr(effects))
            self._open_every_relay()

    def _stale_close(self, cid: int) -> bool:
        """True if the core has opened the relay again since it asked to close it: an e-stop or
        an unplug that came in while the commit was on its way to disk. Power never comes on
        late; the `OpenRelay` queued after it is carried out as usual."""
        return not self.pile.connectors[cid].relay_closed

    def _journal_failed(self, error: BaseException) -> None:
        """The journal refused a write or a flush (a full or dying disk): the core has moved on
        from what is on disk, and nothing it decides now could be billed. Power off, carry out
        nothing more, and stop with exit 1: systemd starts the daemon again, which rebuilds
        every connector from the journal (a session cut off is stopped and billed, PowerLoss)."""
        self._open_every_relay()
        if self.failure is None:
            self.failure = f"journal: {error}"
            log.critical("the journal failed (%s): power off; restarting to rebuild from it", error)
            self._stopping.set()

    def _open_every_relay(self) -> None:
        for hardware in self.hardware.connectors.values():
            hardware.relay.open()

    def _show(self, c: Connector) -> None:
        # Drivers are told the pile is offline only once the backend has been out of reach for
        # a while: a broker restart or a reconnect after boot is not worth a screen of its own.
        lost = self._offline_since
        online = lost is None or self.now() - lost < OFFLINE_SCREEN_AFTER
        self.display.show(c, self.now(), online)

    # --- the backend ---------------------------------------------------------------------------

    def _acked(self, mid: int) -> None:
        try:
            self.outbox.acked(mid)  # the event leaves the journal with the next commit
        except sqlite3.Error as exc:
            self._journal_failed(exc)

    def _forget_delivered(self) -> None:
        if self.failure is not None:
            return  # stopping after a journal failure: no more commits
        try:
            self.store.forget_delivered()  # what no command or event has committed since
        except sqlite3.Error as exc:
            self._journal_failed(exc)

    def _on_lost(self) -> None:
        self._offline_since = self.now()

    def _on_connect(self) -> None:
        self._offline_since = None
        self.publish_online()
        self.link.subscribe(self.topics.commands)
        for cid in self.pile.connectors:
            self.publish_status(cid)
        self.outbox.pump()

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        try:
            self._handle_command(msg)
        except Exception:
            self._bug(f"command on {msg.topic}", repr(msg.payload[:200]))
            refusal = wire.reply_json(None, cmd.rejected("InternalError"))
            self._reply(refusal, msg)

    def _handle_command(self, msg: mqtt.MQTTMessage) -> None:
        name = self.topics.command_name(msg.topic)
        if name is None or (name == "tariff" and not msg.payload):
            return  # clearing the retained tariff (an empty message) is not a command
        decoded = wire.decode(name, bytes(msg.payload), self.now(), self.security)
        if decoded.id is not None and (previous := self.store.reply_for(decoded.id)):
            self._reply(previous, msg)
            return
        if decoded.command is not None:
            reply, effects = self.pile.command(decoded.command, self.now())
            if isinstance(decoded.command, cmd.SetTariff) and reply == cmd.ACCEPTED:
                self.store.put("tariff", json.dumps(decoded.command.tariff.as_json()))
        else:
            assert decoded.refusal is not None
            reply, effects = decoded.refusal, []
            log.info(
                "command %s (id %s) refused: %s%s",
                name,
                decoded.id,
                reply.reason,
                f" ({decoded.detail})" if decoded.detail else "",
            )
        text = wire.reply_json(decoded.id, reply)
        self.apply(effects, Answer(decoded.id, text, msg, remember=decoded.authentic))

    def _reply(self, text: str, msg: mqtt.MQTTMessage) -> None:
        self.link.publish(self.topics.replies, text, now=True)  # the backend is waiting
        asked = getattr(msg, "properties", None)
        response_topic = getattr(asked, "ResponseTopic", None)
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            correlation = getattr(asked, "CorrelationData", None)
            if correlation is not None:
                props.CorrelationData = correlation
            self.link.publish(response_topic, text, properties=props, now=True)

    def publish_online(self) -> None:
        self.link.publish(self.topics.online, self._online_message(True)[1], retain=True)

    def publish_status(self, cid: int) -> None:
        status = self.pile.connectors[cid].status(self.now())
        self.link.publish(
            self.topics.status(cid), json.dumps(status, separators=(",", ":")), retain=True
        )

    def _online_message(self, online: bool) -> tuple[str, bytes]:
        s = self.settings
        body: dict[str, Any] = {
            "v": 1,
            "online": online,
            "pile": s.pile.id,
            "boot_id": self.boot_id,
        }
        if online:
            body |= {
                "firmware": __version__,
                "connectors": sorted(self.pile.connectors),
                "location": {"lat": s.pile.location.lat, "lon": s.pile.location.lon},
                "public_key": self.key.public_b64,
            }
        body["ts"] = iso(self.now())
        return self.topics.online, json.dumps(body, separators=(",", ":")).encode()

    # --- the control socket --------------------------------------------------------------------

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        match request.get("cmd"):
            case "status":
                return self.status_report()
            case "sim":
                self.simulate([str(a) for a in request.get("args", [])])
                return {}
        raise RequestError(f"unknown request {request.get('cmd')!r}")

    def status_report(self) -> dict[str, Any]:
        t = self.now()
        connectors = []
        for c in self.pile.connectors.values():
            s = c.status(t)
            connectors.append(
                {
                    "id": c.id,
                    "state": s["state"],
                    "status": s["status"],
                    "reservation_id": s["reservation_id"],
                    "transaction_id": s["transaction_id"],
                    "energy_wh": s["energy_wh"],
                    "power_w": s["power_w"],
                    "cost": s["cost"],
                    "relay_closed": c.relay_feedback,
                    "cable_locked": c.lock_feedback,
                    "fault": s["fault"],
                    "meter": meter_report(c.reading, t),
                }
            )
        return {
            "pile_id": self.settings.pile.id,
            "backend": {"connected": self.link.connected, "outbox": self.store.outbox_depth()},
            "connectors": connectors,
        }

    def simulate(self, args: list[str]) -> None:
        if not isinstance(self.hardware, SimPile):
            raise RequestError('pilectl sim needs hal.driver = "sim"')
        if args[:1] == ["clock"]:
            self.skip_time(args[1:])
            return
        try:
            drive(self.hardware, args)
        except ValueError as exc:
            raise RequestError(str(exc)) from None

    def skip_time(self, args: list[str]) -> None:
        """`sim clock +SECONDS`: the pile's clock jumps ahead, as trio's MockClock does for tests.

        The meters are read at the new time before timers run, so the jump itself does not make
        them look stale."""
        if len(args) != 1 or not args[0].lstrip("+").isdigit():
            raise RequestError("usage: sim clock +SECONDS")
        seconds = int(args[0].lstrip("+"))
        self.clock_offset += timedelta(seconds=seconds)
        assert isinstance(self.hardware, SimPile)
        self.hardware.skip(seconds)
        for cid, hw in self.hardware.connectors.items():
            with contextlib.suppress(MeterError):
                self.feed(ev.MeterReading(cid, dataclasses.replace(hw.meter.read(), at=self.now())))
        self.feed(ev.Tick())


class ClockWatch:
    """Notices the wall clock jumping against the monotonic one. A pile without a battery-backed
    clock boots with a stale time and NTP steps it, often by hours: unnoticed, every running
    timer would fire at once (a live session stopped as if its meter had been silent for hours).
    NTP's own slewing stays far below the threshold."""

    THRESHOLD_S = 1.0

    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float] = time.time):
        self.monotonic, self.wall = monotonic, wall
        self.offset = wall() - monotonic()

    def step(self) -> float:
        """Seconds the wall clock jumped since the last call (0.0 if it did not)."""
        offset = self.wall() - self.monotonic()
        jump, self.offset = offset - self.offset, offset
        return jump if abs(jump) >= self.THRESHOLD_S else 0.0


@dataclasses.dataclass(frozen=True)
class Answer:
    """The reply to a command: sent once the command's events are committed, and remembered
    with them (if `remember`) so a duplicate gets the same reply."""

    command_id: str | None
    text: str
    msg: mqtt.MQTTMessage
    remember: bool

    @property
    def to_journal(self) -> tuple[str, str] | None:
        if self.remember and self.command_id is not None:
            return self.command_id, self.text
        return None


def meter_report(reading: ev.Reading | None, now: datetime) -> dict[str, Any] | None:
    """The last valid reading with its age: a technician sees at once whether it is live."""
    if reading is None or reading.at is None:
        return None
    return {
        "energy_register_wh": reading.energy_register_wh,
        "power_w": reading.power_w,
        "voltage_v": list(reading.voltage_v),
        "current_a": list(reading.current_a),
        "age_s": round((now - reading.at).total_seconds(), 1),
    }


def actuate(hardware: Hardware, effect: fx.Effect) -> ev.Actuated | None:
    """Carries out a relay or lock effect and returns the event that tells the core it reached
    the device; None for effects that are not the hardware's."""
    match effect:
        case fx.CloseRelay(connector=c):
            hardware.connectors[c].relay.close()
            return ev.Actuated(c, "relay")
        case fx.OpenRelay(connector=c):
            hardware.connectors[c].relay.open()
            return ev.Actuated(c, "relay")
        case fx.LockCable(connector=c):
            hardware.connectors[c].lock.lock()
            return ev.Actuated(c, "lock")
        case fx.UnlockCable(connector=c):
            hardware.connectors[c].lock.unlock()
            return ev.Actuated(c, "lock")
    return None


def notify_systemd(state: str) -> None:
    """sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET, if systemd gave one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(state.encode(), address)


def open_hardware(settings: config.Settings) -> Hardware:
    """The pile's devices: simulated relays and locks (the only driver yet), and each
    connector's meter, simulated or over Modbus."""
    if settings.hal.driver != "sim":
        raise config.ConfigError(['hal.driver: "rpi" is not supported by this version yet'])
    pile = SimPile([c.id for c in settings.connectors])
    for c in settings.connectors:
        if c.meter.model != config.SIM_METER:
            pile.connectors[c.id].meter = open_meter(
                c.meter.model, endpoint_of(c.meter), c.meter.unit
            )
    return pile


def check_config(path: str) -> int:
    try:
        config.load(Path(path))
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0


def default_config() -> Path:
    env = os.environ.get("PILE_CONTROLLER_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


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
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)  # it logs every state change
    path = args.config or default_config()
    try:
        settings = config.load(path)
        hardware = open_hardware(settings)
        display = open_display(settings)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"pile-controller: {problem}", file=sys.stderr)
        return 1
    except (FontError, FramebufferError) as exc:
        print(f"pile-controller: display: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        daemon = Daemon(settings, hardware, display)
        await daemon.run()
        return 1 if daemon.failure else 0

    try:
        return asyncio.run(run())
    except (OSError, JournalError, KeyFileError) as exc:
        print(f"pile-controller: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
