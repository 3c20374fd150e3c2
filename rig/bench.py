"""A test bench: the core wired to the simulated hardware in-process, with an injected clock.

It does what the daemon does (effects to hardware, hardware edges back to the core, meter polls,
ticks) but synchronously, so a test can jump hours in microseconds and look at the real relay
and lock of the simulated pile after every step.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nacl.signing

from hal.interfaces import MeterError
from hal.interlock import Interlock
from hal.sim import SimPile
from pile_controller import config
from pile_controller.backend.wire import event_data
from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.core.connector import Connector, Context
from pile_controller.core.pile import Pile
from pile_controller.core.published import Published
from pile_controller.core.tariff import Tariff
from pile_controller.service.hardware import actuate
from pile_controller.signing import PileKey

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
FLAT = Tariff("T-FLAT", "CNY", Decimal("1.20"), Decimal("0.80"))
PAY_URL = "https://pay.example.com/p?pile={pile_id}&tx={transaction_id}&amount={amount}"
KEY = PileKey(nacl.signing.SigningKey.generate())


def bench_settings(connectors: tuple[int, ...], **tables: dict[str, Any]) -> config.Settings:
    """The pile's settings with every default the config gives, as a pile would have them;
    `tables` adds keys as config.toml would (`reservation={"max_attempts": 2}`)."""
    raw: dict[str, Any] = {
        "pile": {"id": "P1", "state_dir": "state", "location": {"lat": 22.5, "lon": 114.0}},
        "backend": {"host": "127.0.0.1"},
        "hal": {"driver": "sim"},
        "payment": {"url_template": PAY_URL},
        "connectors": [{"id": c, "meter": {"model": "sim"}} for c in connectors],
    }
    for name, keys in tables.items():
        raw[name] = raw.get(name, {}) | keys
    return config.from_toml(raw, Path("bench.toml"), meter_models={"sim"})


class Bench:
    def __init__(
        self,
        connectors: tuple[int, ...] = (1, 2),
        now: datetime = T0,
        mono: float = 0.0,
        tariff: Tariff = FLAT,
        **tables: dict[str, Any],
    ):
        """`tables`: config keys, as `bench_settings` takes them."""
        self.now = now
        self.mono = mono
        self.sim = SimPile(list(connectors), clock=lambda: self.mono)
        self.hardware = Interlock(self.sim)  # as the daemon has it
        self.inbox: deque[ev.Event] = deque()
        self.hardware.attach(self.inbox.append)
        ids = itertools.count(1)
        self.connector_ids, self.tables = connectors, tables
        settings = bench_settings(connectors, **tables)
        self.ctx = Context(settings, tariff, KEY.sign, lambda: f"TX{next(ids)}")
        self.pile = Pile(connectors, self.ctx, self.now)
        self.published: list[Published] = []
        self.status_pushes: list[int] = []
        self.poll()

    def c(self, cid: int = 1) -> Connector:
        return self.pile.connectors[cid]

    # --- driving -------------------------------------------------------------------------------

    def apply(self, effects: list[fx.Effect]) -> None:
        for effect in effects:
            if done := actuate(self.hardware, effect):
                self.inbox.append(done)
                continue
            match effect:
                case fx.Publish(event=event):
                    self.published.append(event)
                case fx.PublishStatus(connector=c):
                    self.status_pushes.append(c)
                case fx.ReadMeter(connector=c):
                    self.read(c)
        while self.inbox:
            self.apply(self.pile.handle(self.inbox.popleft(), self.now))

    def feed(self, event: ev.Event) -> None:
        self.apply(self.pile.handle(event, self.now))

    def command(self, command: cmd.Command) -> cmd.Reply:
        reply, effects = self.pile.command(command, self.now)
        self.apply(effects)
        return reply

    def read(self, cid: int) -> None:
        try:
            reading = self.sim.meters[cid].read()
        except MeterError as exc:
            self.inbox.append(ev.MeterUnreadable(cid, str(exc)))
            return
        self.inbox.append(ev.MeterReading(cid, dataclasses.replace(reading, at=self.now)))

    def poll(self) -> None:
        for cid in self.pile.connectors:
            self.read(cid)
        self.apply([])

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Lets time pass as the daemon would see it: a meter poll and a tick every `step`."""
        left = seconds
        while left > 0:
            dt = min(step, left)
            self.now += timedelta(seconds=dt)
            self.mono += dt
            left -= dt
            self.poll()
            self.feed(ev.Tick())

    def step_clock(self, seconds: float) -> None:
        """The wall clock jumps (NTP) while no time passes; the core is told, as by the daemon."""
        delta = timedelta(seconds=seconds)
        self.now += delta
        self.feed(ev.ClockStepped(delta))

    def restarted(self) -> Bench:
        """The pile after a crash: a new core rebuilt from the journaled snapshots, on hardware
        whose relays reset open, whose meters kept counting and whose vehicles stay plugged."""
        # Through JSON, as the journal keeps them (which also gives the ids back as integers).
        snapshots = {
            int(cid): s for cid, s in json.loads(json.dumps(self.pile.snapshots())).items()
        }
        new = Bench(self.connector_ids, self.now, self.mono, self.ctx.tariff, **self.tables)
        new.published = self.published
        new.ctx.tariff = self.ctx.tariff
        new.ctx.new_transaction_id = self.ctx.new_transaction_id  # ids stay unique
        for cid, meter in self.sim.meters.items():
            new.sim.meters[cid].register_wh = meter.register_wh
            new.sim.vehicles[cid].power_w = self.sim.vehicles[cid].power_w
        new.apply(new.pile.restore(snapshots, None, new.now))
        for cid, vehicle in self.sim.vehicles.items():
            if vehicle.plugged:
                new.do("plug", cid)  # the inputs report what is plugged at boot
        return new

    # --- what a user does ----------------------------------------------------------------------

    def reserve(
        self,
        connector: int = 1,
        rid: str = "R1",
        code: str = "123456",
        minutes: float = 30,
        id_token: str = "user-1",
    ) -> cmd.Reply:
        return self.command(
            cmd.Reserve(connector, rid, code, id_token, self.now + timedelta(minutes=minutes))
        )

    def start_reserved_session(self, cid: int = 1, code: str = "123456") -> str:
        """Reserve, plug, enter the code: returns the transaction id."""
        assert self.reserve(cid, code=code) == cmd.ACCEPTED
        self.sim.plug(cid)
        self.apply([])
        self.sim.code(cid, code)
        self.apply([])
        tx = self.c(cid).transaction
        assert tx is not None and self.c(cid).state == "charging"
        return tx.transaction_id

    def pay(self, cid: int = 1) -> cmd.Reply:
        tx = self.c(cid).transaction
        assert tx is not None and tx.amount is not None
        return self.command(cmd.Payment(tx.transaction_id, "paid", tx.amount))

    def technician_clears(self, cid: int) -> cmd.Reply:
        """`pilectl fault clear N`."""
        reply, effects = self.pile.clear_faults(cid, self.now)
        self.apply(effects)
        return reply

    def do(self, action: str, cid: int = 1, *args: Any) -> None:
        getattr(self.sim, action)(cid, *args)
        self.apply([])

    # --- what a test looks at ------------------------------------------------------------------

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [event_data(p) for p in self.published if type_ is None or p.type == type_]

    def types(self) -> list[str]:
        return [p.type for p in self.published]

    def relay_closed(self, cid: int = 1) -> bool:
        return self.sim.relays[cid].feedback

    def cable_locked(self, cid: int = 1) -> bool:
        return self.sim.locks[cid].locked
